import type pg from "pg";

/** Claims a cron tick of a scheduled job for one node of the fleet (issue 16 part 2). */
export interface TickClaims {
  /**
   * True for exactly one caller per (job, tick) across the fleet: that node enqueues the run.
   * `tickMs` must be the tick's scheduled instant (the same on every node, e.g. cronTimes'
   * previousFire), not the time the timer fired.
   */
  claim(job: string, tickMs: number, node: string): Promise<boolean>;
}

/** A single daemon: every tick is its own (the queue's dedupe key still coalesces). */
export class LocalTicks implements TickClaims {
  async claim(_job: string, _tickMs: number, _node: string): Promise<boolean> {
    return true;
  }
}

/** Options of PgTicks. */
export interface PgTicksOptions {
  readonly pool: pg.Pool;
  /**
   * Claims made longer ago than this are deleted, in ms; default 7 days. Counted from the claim,
   * not the tick: a catch-up claims a past tick soon after it, and never one it claimed a week ago.
   */
  readonly retentionMs?: number;
  /** Default Date.now. */
  readonly clock?: () => number;
}

/** Prune at most this often: the table grows by one row per tick per job. */
const PRUNE_EVERY_MS = 3_600_000;

/** Tick claims in the schedule_ticks table: the first INSERT of (job, tick) wins. */
export class PgTicks implements TickClaims {
  // parameters
  readonly #pool: pg.Pool;
  readonly #retentionMs: number;
  readonly #clock: () => number;
  // internal state
  #prunedAt = Number.NEGATIVE_INFINITY;

  constructor(options: PgTicksOptions) {
    this.#pool = options.pool;
    this.#retentionMs = options.retentionMs ?? 7 * 86_400_000;
    this.#clock = options.clock ?? Date.now;
  }

  async claim(job: string, tickMs: number, node: string): Promise<boolean> {
    if (!Number.isSafeInteger(tickMs)) throw new RangeError(`claim tick of job "${job}": the tick must be a whole number of ms, not ${tickMs}`);
    const now = this.#clock();
    const { rowCount } = await this.#pool.query(
      "INSERT INTO schedule_ticks (job, tick, node, claimed_at) VALUES ($1, $2, $3, $4) ON CONFLICT (job, tick) DO NOTHING", [job, tickMs, node, now]);
    if (now - this.#prunedAt >= PRUNE_EVERY_MS) {
      this.#prunedAt = now;
      // A failed prune must not lose the claim just made: the next hour tries again.
      await this.#pool.query("DELETE FROM schedule_ticks WHERE claimed_at < $1", [now - this.#retentionMs]).catch(() => (this.#prunedAt = Number.NEGATIVE_INFINITY));
    }
    return rowCount === 1;
  }
}
