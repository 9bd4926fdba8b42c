import { silentLogger, type Logger } from "../log/index.js";
import { FtpReplyError } from "../protocol/index.js";
import { connectionLimitReply } from "./connectionLimit.js";
import { isConnectionFatal, FtpUsageError } from "./errors.js";
import type { FtpClient } from "./FtpClient.js";

/** Options of a ClientPool. */
export interface ClientPoolOptions {
  /** Opens a new logged-in client (FtpClient.connect with the remote's options). */
  connect: () => Promise<FtpClient>;
  /**
   * Most connections open at once (the per-remote cap, e.g. --parallel); at least 1. The pool
   * lowers it for its lifetime when the server refuses an extra connection as too many.
   */
  max: number;
  /** How logs name the server (e.g. its URL without password); omitted when the logger already says. */
  remote?: string;
  /** An idle connection is closed after this many ms; default 60000. */
  idleMs?: number;
  /** An idle connection gets a NOOP this often, in ms, so the server keeps it; default 20000 (0: never). */
  keepAliveMs?: number;
  /**
   * Awaited before each new connection is opened (e.g. a fleet-wide slot of the remote, issue
   * 16); the function it resolves to is called when that connection is closed or fails to
   * open. The signal aborts when the pool is drained or the wait is no longer needed (a
   * connection came back to the pool meanwhile). Default: no admission step.
   */
  admit?: (signal: AbortSignal) => Promise<() => void>;
  logger?: Logger;
}

/** A use waiting for admission to open a connection; it may be handed a returning one instead. */
interface Admitting {
  /** Takes a connection coming back to the pool; false when the wait already ended. */
  readonly handoff: (client: FtpClient) => boolean;
  readonly fail: (err: Error) => void;
}

interface Idle {
  readonly client: FtpClient;
  readonly since: number;
  timer: NodeJS.Timeout;
  /** A keep-alive NOOP in flight: awaited before the client is handed out (single-flight). */
  busy?: Promise<void>;
}

/**
 * Up to `max` FtpClients to one remote, reused across operations (STYLE guideline 12).
 * `use(fn)` acquires and releases in try/finally, so a client cannot leak. Release looks at
 * how the use ended: after a transport error (or 421, 425, 426) the client is discarded;
 * after another error it is checked with NOOP first; idle clients get NOOPs and are closed
 * after `idleMs`.
 *
 * Adaptive concurrency (lftp >= 4.8.0 does the same): when opening an extra connection is
 * refused as too many (any 421, or a 530 saying too many connections/users; see
 * connectionLimit.ts) while the pool holds a working connection, the cap drops to the
 * connections it has, for the pool's lifetime, and the waiting work is served by those;
 * one warning per lowering. With no working connection the refusal surfaces as before (the
 * server is full: the caller's transient-error handling applies, FAULTS C6). The cap is
 * never raised again: probing upward would cost refused logins for little gain in one run.
 */
export class ClientPool {
  // parameters
  readonly #connect: () => Promise<FtpClient>;
  readonly #max: number;
  readonly #remote: string | undefined;
  readonly #idleMs: number;
  readonly #keepAliveMs: number;
  readonly #logger: Logger;
  readonly #admit: ((signal: AbortSignal) => Promise<() => void>) | undefined;
  // internal state
  /** Admission of each open connection, given back when it goes. */
  readonly #admissions = new Map<FtpClient, () => void>();
  readonly #admitting: Admitting[] = [];
  readonly #idle: Idle[] = [];
  /** The next connection released closes (yieldSlot). */
  #yielding = false;
  readonly #waiters: { resolve: (c: FtpClient | undefined) => void; reject: (e: unknown) => void }[] = [];
  #open = 0; // clients that exist (idle, in use, or connecting)
  #connecting = 0; // of those, still connecting (not yet known to work)
  #cap: number; // most clients at once now: #max, lowered when the server says too many
  #announcedCap: number; // the cap last logged
  #lastRefusal = ""; // the reply that lowered the cap last, for the log
  /** Woken whenever a connect settles: refused connects wait here to learn whether another works. */
  readonly #settleWaiters: (() => void)[] = [];
  #draining = false;

  constructor(options: ClientPoolOptions) {
    if (!Number.isInteger(options.max) || options.max < 1) throw new FtpUsageError(`ClientPool: max must be a whole number >= 1, not ${options.max}`);
    this.#connect = options.connect;
    this.#max = options.max;
    this.#cap = options.max;
    this.#announcedCap = options.max;
    this.#remote = options.remote;
    this.#idleMs = options.idleMs ?? 60_000;
    this.#keepAliveMs = options.keepAliveMs ?? 20_000;
    this.#logger = options.logger ?? silentLogger();
    this.#admit = options.admit;
  }

  /** Connections open now (idle, in use or connecting). */
  get size(): number {
    return this.#open;
  }

  /** Most connections the pool opens at once now: `max`, or lower after the server refused one as too many. */
  get cap(): number {
    return this.#cap;
  }

  /** Run `fn` with a client of the pool; the client returns to the pool however `fn` ends. */
  async use<T>(fn: (client: FtpClient) => Promise<T>): Promise<T> {
    const client = await this.#acquire();
    let failure: unknown;
    let failed = false;
    try {
      return await fn(client);
    } catch (err) {
      failed = true;
      failure = err;
      throw err;
    } finally {
      await this.#release(client, failed, failure);
    }
  }

  /** Close idle connections, refuse new uses, and close in-use ones when they come back. */
  async drain(): Promise<void> {
    this.#draining = true;
    for (const w of this.#waiters.splice(0)) w.reject(new FtpUsageError("ClientPool was drained"));
    for (const a of this.#admitting.splice(0)) a.fail(new FtpUsageError("ClientPool was drained"));
    const idle = this.#idle.splice(0);
    await Promise.all(idle.map((i) => this.#discardIdle(i)));
  }

  /**
   * Closes the idle connections now (politely), keeping the pool usable: called when another
   * node of a fleet waits for a connection slot this pool's idle connections hold.
   */
  async closeIdle(): Promise<void> {
    const idle = this.#idle.splice(0);
    await Promise.all(idle.map((i) => this.#discardIdle(i)));
    if (idle.length > 0) this.#wakeOne();
  }

  /**
   * Another node of a fleet waits for a connection slot: close the idle connections, or, when
   * every connection is busy, give back the next one released instead of handing it to this
   * pool's next user (a node whose work never pauses would otherwise keep every slot).
   */
  async yieldSlot(): Promise<void> {
    if (this.#idle.length > 0) return this.closeIdle();
    if (this.#open > 0) this.#yielding = true;
  }

  async #acquire(): Promise<FtpClient> {
    for (;;) {
      if (this.#draining) throw new FtpUsageError("ClientPool was drained; no new connections");
      const idle = this.#idle.pop(); // most recently used first: the least likely to have timed out
      if (idle) {
        clearTimeout(idle.timer);
        if (idle.busy) await idle.busy;
        if (!idle.client.closed) return idle.client;
        this.#open--;
        this.#readmit(idle.client);
        continue;
      }
      if (this.#open < this.#cap) {
        this.#open++;
        let admission: (() => void) | undefined;
        if (this.#admit) {
          let admitted: { release: () => void } | { client: FtpClient };
          try {
            admitted = await this.#admitted(this.#admit);
          } catch (err) {
            this.#open--;
            this.#wakeOne();
            throw err;
          }
          if ("client" in admitted) {
            this.#open--; // the returning connection is counted already
            return admitted.client;
          }
          admission = admitted.release;
        }
        this.#connecting++;
        let client: FtpClient;
        try {
          client = await this.#connect();
        } catch (err) {
          admission?.();
          this.#open--;
          // No announcement yet: this refusal may lower the cap first (one warning per burst).
          this.#settled(false);
          if (await this.#lowerCap(err)) continue; // served by the connections the pool has
          this.#announce();
          this.#wakeOne();
          throw err;
        }
        if (admission) this.#admissions.set(client, admission);
        this.#settled();
        return client;
      }
      const handed = await new Promise<FtpClient | undefined>((resolve, reject) => this.#waiters.push({ resolve, reject }));
      if (handed) return handed;
    }
  }

  /**
   * Waits for admission to open one more connection. A connection returning to the pool
   * meanwhile is handed over instead, and the admission (if it comes later) goes back.
   */
  #admitted(admit: (signal: AbortSignal) => Promise<() => void>): Promise<{ release: () => void } | { client: FtpClient }> {
    const controller = new AbortController();
    return new Promise((resolve, reject) => {
      let settled = false;
      const settle = (): boolean => {
        if (settled) return false;
        settled = true;
        const i = this.#admitting.indexOf(entry);
        if (i >= 0) this.#admitting.splice(i, 1);
        return true;
      };
      let admission: Promise<() => void>;
      try {
        admission = admit(controller.signal);
      } catch (err) {
        admission = Promise.reject(err);
      }
      const entry: Admitting = {
        handoff: (client) => {
          if (!settle()) return false;
          controller.abort(new FtpUsageError("ClientPool: admission no longer needed"));
          resolve({ client });
          return true;
        },
        fail: (err) => {
          if (!settle()) return;
          controller.abort(err);
          reject(err);
        },
      };
      this.#admitting.push(entry);
      admission.then((release) => {
        if (settle()) resolve({ release });
        else release(); // the wait ended first: give the admission back
      }, (err: unknown) => {
        if (settle()) reject(this.#draining ? new FtpUsageError("ClientPool was drained; no new connections") : err);
      });
    });
  }

  /** Gives back the admission of a connection that is gone. */
  #readmit(client: FtpClient): void {
    const release = this.#admissions.get(client);
    if (!release) return;
    this.#admissions.delete(client);
    try {
      release();
    } catch (err) {
      this.#logger.error({ err }, "ftp pool: giving back a connection's admission failed");
    }
  }

  /**
   * After a refused connect: whether it was refused as too many while another connection of
   * the pool works (then the cap is lowered and the caller waits for a connection). While
   * other connects are still in flight and none works yet, wait for them to tell.
   */
  async #lowerCap(err: unknown): Promise<boolean> {
    const reply = connectionLimitReply(err);
    if (!reply) return false;
    for (;;) {
      if (this.#draining) return false;
      // Uses still waiting for admission are no working connection either.
      if (this.#open - this.#connecting - this.#admitting.length >= 1) break;
      if (this.#connecting === 0) return false; // nothing works: the server is really full
      await new Promise<void>((resolve) => this.#settleWaiters.push(resolve));
    }
    // The connections that exist (those still connecting included: a refused one lowers it
    // again) are what the server takes.
    const cap = Math.max(1, Math.min(this.#cap, this.#open));
    if (cap < this.#cap) {
      this.#cap = cap;
      this.#lastRefusal = reply.message;
    }
    this.#announce();
    return true;
  }

  #settled(announce = true): void {
    this.#connecting--;
    for (const wake of this.#settleWaiters.splice(0)) wake();
    if (announce) this.#announce();
  }

  /** Log a lowered cap once its burst of connects has settled: one warning per lowering, not per refusal. */
  #announce(): void {
    if (this.#connecting > 0 || this.#cap >= this.#announcedCap) return;
    const was = this.#announcedCap;
    this.#announcedCap = this.#cap;
    this.#logger.warn({ event: "pool.limit-lowered", ...(this.#remote !== undefined ? { remote: this.#remote } : {}), limit: this.#cap, was, max: this.#max, reply: this.#lastRefusal },
      `the server refused another connection (${this.#lastRefusal}); using at most ${this.#cap} connection${this.#cap === 1 ? "" : "s"} to it for this run`);
  }

  async #release(client: FtpClient, failed: boolean, failure: unknown): Promise<void> {
    let keep = !client.closed && !this.#draining && !this.#yielding;
    // One connection per request: the next user here asks for a slot again, like the other node.
    this.#yielding = false;
    if (keep && failed) {
      if (isConnectionFatal(failure) || (failure instanceof FtpReplyError && (failure.code === 425 || failure.code === 426))) {
        // "toss this connection to avoid sync errors" (rclone): the control stream may be
        // out of step after a failed data transfer.
        keep = false;
      } else {
        try {
          await client.noop();
        } catch (err) {
          this.#logger.debug({ err: (err as Error).message }, "ftp pool: NOOP check failed; discarding the connection");
          keep = false;
        }
      }
    }
    if (!keep) {
      await this.#discard(client, undefined, !client.closed);
      this.#wakeOne();
      return;
    }
    const waiter = this.#waiters.shift();
    if (waiter) {
      waiter.resolve(client);
      return;
    }
    for (let a = this.#admitting.shift(); a; a = this.#admitting.shift()) if (a.handoff(client)) return;
    this.#park(client);
  }

  #park(client: FtpClient): void {
    const since = Date.now();
    let entry: Idle | undefined;
    const schedule = (): NodeJS.Timeout => {
      const untilIdle = this.#idleMs - (Date.now() - since);
      const next = this.#keepAliveMs > 0 ? Math.min(this.#keepAliveMs, untilIdle) : untilIdle;
      const t = setTimeout(() => entry && this.#tick(entry, schedule), Math.max(0, next));
      t.unref();
      return t;
    };
    entry = { client, since, timer: schedule() };
    this.#idle.push(entry);
  }

  #tick(entry: Idle, schedule: () => NodeJS.Timeout): void {
    const i = this.#idle.indexOf(entry);
    if (i < 0) return;
    const { client } = entry;
    if (Date.now() - entry.since >= this.#idleMs || client.closed) {
      this.#idle.splice(i, 1);
      void this.#discardIdle(entry).then(() => this.#wakeOne());
      return;
    }
    // Keep-alive: NOOP is harmless and resets the server's idle timer. One at a time: the
    // connection is single-flight, and a slow server may not have answered the last one yet.
    if (!entry.busy) entry.busy = client.noop().catch(() => client.close()).finally(() => {
      entry.busy = undefined;
    });
    entry.timer = schedule();
  }

  /**
   * Close an idle connection politely. A keep-alive NOOP may still be in flight (a timer can fire
   * a millisecond before Date.now() says the idle time is over, so a NOOP goes out just before the
   * close): QUIT waits for it, since a second command on a busy connection is refused and the
   * connection would be dropped without QUIT.
   */
  async #discardIdle(entry: Idle): Promise<void> {
    clearTimeout(entry.timer);
    if (entry.busy) await entry.busy;
    await this.#discard(entry.client, undefined, true);
  }

  async #discard(client: FtpClient, timer: NodeJS.Timeout | undefined, politely: boolean): Promise<void> {
    if (timer) clearTimeout(timer);
    this.#open--;
    try {
      if (politely) await client.quit();
      else client.close();
    } finally {
      // After the close: the server counts the session until then.
      this.#readmit(client);
    }
  }

  #wakeOne(): void {
    // A slot became free: let one waiter try to take or open a connection.
    this.#waiters.shift()?.resolve(undefined);
  }
}
