import { abortReason, assertCap, SlotsClosedError, Wanted, type ConnectionSlots, type ReleaseSlot, type SlotUsage } from "./ConnectionSlots.js";

interface Waiter {
  readonly cap: number;
  readonly grant: (release: ReleaseSlot) => void;
  readonly fail: (err: Error) => void;
}

interface Remote {
  held: number;
  readonly waiters: Waiter[];
  /** Repeats onWanted while someone waits (a connection that goes idle later must hear it too). */
  wantedTimer: NodeJS.Timeout | undefined;
}

/** How often a remote with waiters says so again. */
const WANTED_EVERY_MS = 500;

/**
 * Connection slots of a single daemon (the SQLite default): an in-process counter per remote,
 * first come first served. With one node this caps exactly what ClientPool's `max` caps.
 */
export class LocalSlots implements ConnectionSlots {
  // internal state
  readonly #remotes = new Map<string, Remote>();
  readonly #wanted = new Wanted();
  #closed = false;

  async acquire(remote: string, cap: number, signal?: AbortSignal): Promise<ReleaseSlot> {
    assertCap(remote, cap);
    if (this.#closed) throw new SlotsClosedError();
    if (signal?.aborted) throw abortReason(signal);
    const r = this.#remote(remote);
    if (r.held < cap && r.waiters.length === 0) return this.#take(remote, r);
    return new Promise<ReleaseSlot>((resolve, reject) => {
      const onAbort = (): void => {
        const i = r.waiters.indexOf(waiter);
        if (i >= 0) r.waiters.splice(i, 1);
        reject(abortReason(signal!));
        this.#grant(remote, r); // a waiter behind this one may fit now
        this.#wantedWhileWaiting(remote, r);
      };
      const waiter: Waiter = {
        cap,
        grant: (release) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(release);
        },
        fail: (err) => {
          signal?.removeEventListener("abort", onAbort);
          reject(err);
        },
      };
      r.waiters.push(waiter);
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#wantedWhileWaiting(remote, r);
    });
  }

  held(): SlotUsage[] {
    return [...this.#remotes].filter(([, r]) => r.held > 0 || r.waiters.length > 0)
      .map(([remote, r]) => ({ remote, held: r.held, waiting: r.waiters.length, unbacked: 0 }));
  }

  onWanted(remote: string, listener: () => void): () => void {
    return this.#wanted.on(remote, listener);
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const [name, r] of this.#remotes) {
      for (const w of r.waiters.splice(0)) w.fail(new SlotsClosedError());
      this.#wantedWhileWaiting(name, r);
    }
  }

  #remote(name: string): Remote {
    let r = this.#remotes.get(name);
    if (!r) this.#remotes.set(name, (r = { held: 0, waiters: [], wantedTimer: undefined }));
    return r;
  }

  #take(name: string, r: Remote): ReleaseSlot {
    r.held++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      r.held--;
      this.#grant(name, r);
    };
  }

  /** Admit waiters in order while the first fits (a cap lowered by a reload holds the rest back). */
  #grant(name: string, r: Remote): void {
    while (!this.#closed && r.waiters.length > 0 && r.held < r.waiters[0]!.cap) {
      const w = r.waiters.shift()!;
      w.grant(this.#take(name, r));
    }
    this.#wantedWhileWaiting(name, r);
  }

  /** Says the remote is wanted now and every WANTED_EVERY_MS while it has waiters. */
  #wantedWhileWaiting(name: string, r: Remote): void {
    if (r.waiters.length === 0) {
      clearInterval(r.wantedTimer);
      r.wantedTimer = undefined;
    } else if (!r.wantedTimer) {
      this.#wanted.emit(name);
      r.wantedTimer = setInterval(() => this.#wanted.emit(name), WANTED_EVERY_MS);
      r.wantedTimer.unref();
    }
  }
}
