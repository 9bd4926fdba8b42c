import { createHash } from "node:crypto";
import pg from "pg";
import { silentLogger, type Logger } from "../log/index.js";
import { abortReason, assertCap, SlotsClosedError, Wanted, type ConnectionSlots, type ReleaseSlot, type SlotUsage } from "./ConnectionSlots.js";
import { FleetSetupError, isConnectionLoss } from "./errors.js";

/** Options of PgSlots. */
export interface PgSlotsOptions {
  /** How to reach Postgres (a postgres:// URL; the password may come from PGPASSWORD). */
  readonly connection: pg.ClientConfig;
  readonly logger?: Logger;
  /** First and longest wait between two tries while every slot is taken, in ms; default 50 and 1000. */
  readonly pollMinMs?: number;
  readonly pollMaxMs?: number;
  /** First and longest wait between two reconnects after the session was lost, in ms; default 100 and 5000. */
  readonly reconnectMinMs?: number;
  readonly reconnectMaxMs?: number;
}

/** One admitted connection of this node. */
interface Holding {
  readonly remote: string;
  readonly key: number;
  /** The cap when it was admitted: the slot range it is backed from again after a reconnect. */
  readonly cap: number;
  /** The advisory lock (key, index) that backs it, or null while unbacked (its session died). */
  index: number | null;
  /** The session that holds the lock, so a release after a reconnect does not unlock on another. */
  session: pg.Client | null;
}

/** Wakes the waiters when a slot is given back, on any node (the release NOTIFYs). */
const CHANNEL = "ferry_slots";
/** Says a node waits for a slot of a key (the payload), so the others close idle connections. */
const WANTED = "ferry_slots_wanted";
/** A waiting node says so at most this often per key. */
const WANTED_EVERY_MS = 500;

/**
 * The advisory-lock key of a remote: the first 32 bits of a SHA-256 of its name, the same on
 * every node and Node version. Two remote names that collide (about one chance in 2^32 per
 * pair) would share one cap: safe for the servers, only slower.
 */
export function slotKey(remote: string): number {
  return createHash("sha256").update(`ferry:slots:${remote}`).digest().readInt32BE(0);
}

/**
 * Fleet-wide connection slots on Postgres: slot i of a remote is the session-level advisory
 * lock (slotKey(remote), i) for i in 0..cap-1, all taken on ONE dedicated connection per node.
 * Postgres frees a session's advisory locks when the session ends, so the slots of a node that
 * is SIGKILLed or cut off are free for the others as soon as Postgres sees its connection go
 * (at once for a killed process: the kernel closes the socket; TCP keepalive for a vanished
 * host). When every slot is taken, acquirers wait for a release (LISTEN/NOTIFY) and poll with a
 * bounded backoff, since a dead node's locks vanish without a notification.
 *
 * Advisory locks are re-entrant within a session, so this node skips the indexes it already
 * holds (the `held` argument of ferry_try_slot) and takes them one try at a time.
 *
 * Losing the dedicated connection (Postgres restart, network cut) loses every slot it held
 * while this node's FTP connections stay open. Those connections become "unbacked": this node
 * admits no new connection until it has reconnected and taken a slot back for each of them
 * (first come first served with the other nodes). The window: from the moment Postgres drops
 * the session until this node has reconnected and re-locked, the other nodes may take the
 * freed slots, so the fleet can exceed the cap by at most the connections this node had open;
 * it shrinks back as those close or get their slot back (SlotUsage.unbacked shows it).
 */
export class PgSlots implements ConnectionSlots {
  // parameters
  readonly #connection: pg.ClientConfig;
  readonly #logger: Logger;
  readonly #pollMinMs: number;
  readonly #pollMaxMs: number;
  readonly #reconnectMinMs: number;
  readonly #reconnectMaxMs: number;
  // internal state
  /** The live session, or undefined while reconnecting. */
  #session: pg.Client | undefined;
  readonly #holdings = new Set<Holding>();
  readonly #waiting = new Map<string, number>();
  /** Pending waits; each is woken by a release, a NOTIFY, a reconnect or close(). */
  readonly #wakers = new Set<() => void>();
  readonly #wanted = new Wanted();
  /** When this node last said it waits, per key. */
  readonly #wantedAt = new Map<number, number>();
  /** Tail of the one-at-a-time chain of slot queries (see the class comment). */
  #exclusive: Promise<unknown> = Promise.resolve();
  #closed = false;
  #reconnecting: Promise<void> | undefined;
  /** Sessions that ended, so a reconnect does not adopt one lost before it was in use. */
  readonly #ended = new WeakSet<pg.Client>();

  private constructor(options: PgSlotsOptions) {
    this.#connection = options.connection;
    this.#logger = options.logger ?? silentLogger();
    this.#pollMinMs = options.pollMinMs ?? 50;
    this.#pollMaxMs = options.pollMaxMs ?? 1000;
    this.#reconnectMinMs = options.reconnectMinMs ?? 100;
    this.#reconnectMaxMs = options.reconnectMaxMs ?? 5000;
  }

  /** Opens the dedicated session; rejects when Postgres cannot be reached. */
  static async open(options: PgSlotsOptions): Promise<PgSlots> {
    const slots = new PgSlots(options);
    slots.#session = await slots.#connect();
    return slots;
  }

  async acquire(remote: string, cap: number, signal?: AbortSignal): Promise<ReleaseSlot> {
    assertCap(remote, cap);
    const key = slotKey(remote);
    this.#waiting.set(remote, (this.#waiting.get(remote) ?? 0) + 1);
    try {
      for (let delay = this.#pollMinMs; ; delay = Math.min(this.#pollMaxMs, delay * 2)) {
        if (this.#closed) throw new SlotsClosedError();
        if (signal?.aborted) throw abortReason(signal);
        const holding = await this.#serialized(() => this.#tryTake(remote, key, cap));
        if (holding && signal?.aborted) {
          this.#release(holding); // aborted while the lock was being taken
          throw abortReason(signal);
        }
        if (holding) return () => this.#release(holding);
        this.#sayWanted(key);
        await this.#wait(delay, signal);
      }
    } finally {
      const n = (this.#waiting.get(remote) ?? 1) - 1;
      if (n > 0) this.#waiting.set(remote, n);
      else this.#waiting.delete(remote);
    }
  }

  held(): SlotUsage[] {
    const by = new Map<string, { held: number; unbacked: number }>();
    for (const h of this.#holdings) {
      const u = by.get(h.remote) ?? { held: 0, unbacked: 0 };
      u.held++;
      if (h.index === null) u.unbacked++;
      by.set(h.remote, u);
    }
    for (const remote of this.#waiting.keys()) if (!by.has(remote)) by.set(remote, { held: 0, unbacked: 0 });
    return [...by].map(([remote, u]) => ({ remote, held: u.held, unbacked: u.unbacked, waiting: this.#waiting.get(remote) ?? 0 }));
  }

  onWanted(remote: string, listener: () => void): () => void {
    return this.#wanted.on(remote, listener);
  }

  /** Ends the session: Postgres frees every slot of this node at once. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#wakeAll();
    const session = this.#session;
    this.#session = undefined;
    this.#holdings.clear();
    await this.#reconnecting;
    await session?.end().catch(() => undefined);
  }

  /**
   * One try: back this node's unbacked connections of the remote first (they count against the
   * cap), then take a new slot. Undefined when none is free or the session is down.
   */
  async #tryTake(remote: string, key: number, cap: number): Promise<Holding | undefined> {
    const session = this.#session;
    if (!session || this.#closed) return undefined;
    try {
      for (const h of this.#holdings) if (h.key === key && h.index === null && !(await this.#back(session, h, cap))) return undefined;
      const held = this.#indexes(key);
      if (held.length >= cap) return undefined;
      const index = await this.#trySlot(session, key, cap, held);
      if (index < 0) return undefined;
      const holding: Holding = { remote, key, cap, index, session };
      this.#holdings.add(holding);
      return holding;
    } catch (err) {
      if (isConnectionLoss(err)) return undefined; // the session's "error" handler reconnects
      throw err;
    }
  }

  /** Locks a free slot for an unbacked connection; false when none is free. */
  async #back(session: pg.Client, h: Holding, cap = h.cap): Promise<boolean> {
    const index = await this.#trySlot(session, h.key, cap, this.#indexes(h.key));
    if (index < 0) return false;
    if (!this.#holdings.has(h)) {
      // Its connection closed while the lock was being taken: give the slot straight back
      // (inside the serialized section already, so awaited here rather than queued).
      await session.query("SELECT pg_advisory_unlock($1, $2)", [h.key, index]).catch(() => undefined);
      return true;
    }
    h.index = index;
    h.session = session;
    return true;
  }

  async #trySlot(session: pg.Client, key: number, cap: number, held: number[]): Promise<number> {
    try {
      const { rows } = await session.query<{ index: number }>('SELECT ferry_try_slot($1, $2, $3::int[]) AS "index"', [key, cap, held]);
      return rows[0]!.index;
    } catch (err) {
      if ((err as { code?: string }).code === "42883") {
        throw new FleetSetupError("connection slots: the function ferry_try_slot is missing: the fleet migration (migrations/postgres/0002_fleet.sql) was not applied; start one daemon with this database to migrate it", { cause: err });
      }
      throw err;
    }
  }

  /** The slot indexes this session holds under a key (to skip: advisory locks are re-entrant). */
  #indexes(key: number): number[] {
    const out: number[] = [];
    for (const h of this.#holdings) if (h.key === key && h.index !== null) out.push(h.index);
    return out;
  }

  #release(h: Holding): void {
    if (!this.#holdings.delete(h)) return; // released already
    const { session, index } = h;
    if (session && index !== null && session === this.#session) {
      // In line with the slot queries (one query at a time per session). A failure means the
      // session died, which frees the lock anyway.
      void this.#serialized(() => session.query(`SELECT pg_advisory_unlock($1, $2), pg_notify('${CHANNEL}', '')`, [h.key, index])).catch(() => undefined);
    }
    this.#wakeAll();
  }

  /** Tells every node (this one too) that a slot of the key is wanted; throttled. */
  #sayWanted(key: number): void {
    const session = this.#session;
    const now = Date.now();
    if (!session || now - (this.#wantedAt.get(key) ?? Number.NEGATIVE_INFINITY) < WANTED_EVERY_MS) return;
    this.#wantedAt.set(key, now);
    void this.#serialized(() => session.query(`SELECT pg_notify('${WANTED}', $1::text)`, [key])).catch(() => undefined);
  }

  #onNotification(msg: pg.Notification): void {
    if (msg.channel === WANTED) {
      const key = Number(msg.payload);
      for (const remote of this.#wanted.remotes()) if (slotKey(remote) === key) this.#wanted.emit(remote);
      return;
    }
    this.#wakeAll();
  }

  /** Runs fn after every earlier slot query of this node. */
  #serialized<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#exclusive.then(fn, fn);
    this.#exclusive = run.catch(() => undefined);
    return run;
  }

  #wait(ms: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const finish = (): void => {
        clearTimeout(timer);
        this.#wakers.delete(wake);
        signal?.removeEventListener("abort", onAbort);
      };
      const wake = (): void => {
        finish();
        resolve();
      };
      const onAbort = (): void => {
        finish();
        reject(abortReason(signal!));
      };
      const timer = setTimeout(wake, ms);
      this.#wakers.add(wake);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  #wakeAll(): void {
    for (const wake of [...this.#wakers]) wake();
  }

  /** A new session, listening for releases, with its loss handled. */
  async #connect(): Promise<pg.Client> {
    // keepAlive: a half-open connection (host gone) is noticed by the OS instead of never.
    // A connect to a host that does not answer must end (pg waits forever by default).
    const session = new pg.Client({ connectionTimeoutMillis: 10_000, ...this.#connection, keepAlive: true, application_name: "ferry slots" });
    let lost = false;
    const onLoss = (err?: Error): void => {
      if (lost) return;
      lost = true;
      this.#ended.add(session);
      this.#lost(session, err);
    };
    session.on("error", onLoss);
    session.on("end", () => onLoss());
    session.on("notification", (msg) => this.#onNotification(msg));
    try {
      await session.connect();
      await session.query(`LISTEN ${CHANNEL}; LISTEN ${WANTED}`);
    } catch (err) {
      lost = true; // a failed start is reported by the caller, not reconnected
      await session.end().catch(() => undefined);
      throw err;
    }
    return session;
  }

  #lost(session: pg.Client, err: Error | undefined): void {
    if (this.#closed || session !== this.#session) return;
    this.#session = undefined;
    let unbacked = 0;
    for (const h of this.#holdings) {
      if (h.session !== session) continue;
      h.index = null;
      h.session = null;
      unbacked++;
    }
    this.#logger.warn({ event: "fleet.slots-lost", unbacked, err: err?.message },
      `connection slots: the Postgres session was lost (${err?.message ?? "closed"}); ${unbacked} open connection${unbacked === 1 ? "" : "s"} lost their slot; reconnecting, no new connection is opened until they have it back`);
    session.end().catch(() => undefined);
    this.#reconnecting ??= this.#reconnect().finally(() => (this.#reconnecting = undefined));
  }

  async #reconnect(): Promise<void> {
    for (let delay = this.#reconnectMinMs; !this.#closed; delay = Math.min(this.#reconnectMaxMs, delay * 2)) {
      await this.#wait(delay, undefined); // close() wakes it
      if (this.#closed) return;
      let session: pg.Client;
      try {
        session = await this.#connect();
      } catch (err) {
        this.#logger.debug({ err: (err as Error).message }, "connection slots: reconnect failed; trying again");
        continue;
      }
      if (this.#closed) {
        await session.end().catch(() => undefined);
        return;
      }
      const adopted = await this.#serialized(async () => {
        if (this.#ended.has(session)) return false;
        this.#session = session;
        await this.#rebackAll(session);
        return this.#session === session; // false: lost again meanwhile (#lost left it to this loop)
      });
      if (!adopted) continue;
      this.#wakeAll();
      return;
    }
  }

  /** After a reconnect: a slot for each open connection, where one is free. */
  async #rebackAll(session: pg.Client): Promise<void> {
    let still = 0;
    try {
      for (const h of this.#holdings) if (h.index === null && !(await this.#back(session, h))) still++;
    } catch (err) {
      if (!isConnectionLoss(err)) this.#logger.error({ err }, "connection slots: re-taking slots failed");
      return;
    }
    this.#logger.info({ event: "fleet.slots-back", unbacked: still },
      still === 0 ? "connection slots: reconnected; every open connection has its slot again" : `connection slots: reconnected; ${still} open connection${still === 1 ? "" : "s"} still without a slot (other nodes took them); no new ones until they close or get one`);
  }
}
