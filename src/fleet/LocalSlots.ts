import { abortReason, assertCap, SlotsClosedError, type ConnectionSlots, type ReleaseSlot, type SlotUsage } from "./ConnectionSlots.js";

interface Waiter {
  readonly cap: number;
  readonly grant: (release: ReleaseSlot) => void;
  readonly fail: (err: Error) => void;
}

interface Remote {
  held: number;
  readonly waiters: Waiter[];
}

/**
 * Connection slots of a single daemon (the SQLite default): an in-process counter per remote,
 * first come first served. With one node this caps exactly what ClientPool's `max` caps.
 */
export class LocalSlots implements ConnectionSlots {
  // internal state
  readonly #remotes = new Map<string, Remote>();
  #closed = false;

  acquire(remote: string, cap: number, signal?: AbortSignal): Promise<ReleaseSlot> {
    assertCap(remote, cap);
    if (this.#closed) return Promise.reject(new SlotsClosedError());
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    const r = this.#remote(remote);
    if (r.held < cap && r.waiters.length === 0) return Promise.resolve(this.#take(remote, r));
    return new Promise<ReleaseSlot>((resolve, reject) => {
      const onAbort = (): void => {
        const i = r.waiters.indexOf(waiter);
        if (i >= 0) r.waiters.splice(i, 1);
        reject(abortReason(signal!));
        this.#grant(remote, r); // a waiter behind this one may fit now
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
    });
  }

  held(): SlotUsage[] {
    return [...this.#remotes].filter(([, r]) => r.held > 0 || r.waiters.length > 0)
      .map(([remote, r]) => ({ remote, held: r.held, waiting: r.waiters.length, unbacked: 0 }));
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const r of this.#remotes.values()) for (const w of r.waiters.splice(0)) w.fail(new SlotsClosedError());
  }

  #remote(name: string): Remote {
    let r = this.#remotes.get(name);
    if (!r) this.#remotes.set(name, (r = { held: 0, waiters: [] }));
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
  }
}
