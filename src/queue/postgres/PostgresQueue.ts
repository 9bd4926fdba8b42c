import { randomUUID } from "node:crypto";
import { assertPolicy, backoffDelay, DEFAULT_BACKOFF, type BackoffPolicy } from "../backoff.js";
import { LeaseLostError, PayloadError } from "../errors.js";
import { validatePayload, type EnqueueInput, type JobStoreOptions, type EnqueueOptions, type EnqueueResult, type JobSummary, type LeaseOptions, type LeaseResult, type RetryOutcome } from "../JobStore.js";
import type { NotifyWith, Queue } from "../Queue.js";
import { describeError } from "../rows.js";
import { TransferLog } from "../TransferLog.js";
import { JOB_KINDS, JOB_STATES, systemClock, type Clock, type Job, type JobKind, type JobState, type LeasedJob, type LeaseRef, type TransferInput } from "../types.js";
import type { PgDatabase, Sql } from "./PgDatabase.js";
import { PostgresControl } from "./PostgresControl.js";
import { PostgresHooks } from "./PostgresHooks.js";
import { PostgresMirrorStates } from "./PostgresMirrorStates.js";
import { PostgresTransfers } from "./PostgresTransfers.js";
import { pgRowToJob, type PgJobRow } from "./rows.js";
import { finishJob, returnToWaiting, WAITING } from "./waiting.js";

/** Options for a PostgresQueue: the JobStore's, with the same defaults. */
export type PostgresQueueOptions = JobStoreOptions;

// Namespace of the transaction-scoped advisory locks that serialise lease decisions per
// concurrency key across nodes (the migration lock uses another one).
const KEY_LOCK_NS = 0x66657273; // "fers"
// Enqueue retries when the waiting row it collided with was leased before it could read it.
const ENQUEUE_TRIES = 5;

/**
 * The job queue on Postgres, shared by every node of a fleet: the SQLite JobStore's semantics
 * case by case. Each method is one transaction on a pool connection. Leases are claimed with
 * `FOR UPDATE SKIP LOCKED` and a fresh random token, and each later write checks `id AND
 * lease_token` under a row lock; per-key caps are decided under an advisory lock per key, so
 * they hold across nodes.
 */
export class PostgresQueue implements Queue {
  readonly driver = "postgres" as const;
  // parameters
  readonly #db: PgDatabase;
  readonly #clock: Pick<Clock, "now">;
  readonly #rng: () => number;
  readonly #leaseMs: number;
  readonly #maxAttempts: number;
  readonly #backoff: BackoffPolicy;
  readonly transfers: PostgresTransfers;
  readonly control: PostgresControl;
  readonly hooks: PostgresHooks;
  readonly mirrorStates: PostgresMirrorStates;

  constructor(db: PgDatabase, options: PostgresQueueOptions = {}) {
    this.#db = db;
    this.#clock = options.clock ?? systemClock;
    this.#rng = options.rng ?? Math.random;
    this.#leaseMs = positiveInt("leaseMs", options.leaseMs ?? 60_000);
    this.#maxAttempts = positiveInt("maxAttempts", options.maxAttempts ?? 5);
    this.#backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
    assertPolicy(this.#backoff);
    this.transfers = new PostgresTransfers(db, this.#clock);
    this.control = new PostgresControl(db, this.#clock);
    this.hooks = new PostgresHooks(db);
    this.mirrorStates = new PostgresMirrorStates(db, this.#clock);
  }

  /** The URL without its password. */
  get where(): string {
    return this.#db.where;
  }

  /** The default lease duration in ms. */
  get leaseMs(): number {
    return this.#leaseMs;
  }

  /** Adds a job, or returns the waiting job with the same dedupe key (or the leased one, with coalesceWithLeased). Throws PayloadError for a bad payload. */
  async enqueue<K extends JobKind>(input: EnqueueInput<K>, options: EnqueueOptions = {}): Promise<EnqueueResult> {
    const payload = validatePayload(input.kind, input.payload);
    const maxAttempts = positiveInt("maxAttempts", input.maxAttempts ?? this.#maxAttempts);
    for (const [field, value] of [["dedupeKey", input.dedupeKey], ["concurrencyKey", input.concurrencyKey], ["node", input.node]] as const) {
      if (value !== undefined && (typeof value !== "string" || value.length === 0)) {
        throw new TypeError(`enqueue ${input.kind}: ${field} must be a non-empty string or left out, got ${JSON.stringify(value)}`);
      }
    }
    if (input.runAfter !== undefined && !Number.isSafeInteger(input.runAfter)) {
      throw new TypeError(`enqueue ${input.kind}: runAfter must be integer ms since epoch, got ${input.runAfter}`);
    }
    const key = input.dedupeKey ?? null;
    const now = this.#clock.now();
    return this.#db.transaction(`enqueue ${input.kind}`, async (sql) => {
      // Each pass sees what other nodes committed meanwhile (READ COMMITTED): the waiting row we
      // collided with may have been leased before we could read it, and then a new row fits.
      for (let pass = 1; ; pass++) {
        if (key !== null && options.coalesceWithLeased) {
          const running = await sql.query<PgJobRow>(`SELECT * FROM jobs WHERE dedupe_key = $1 AND state = 'leased' ORDER BY id LIMIT 1`, [key]);
          if (running.rows[0]) return { job: pgRowToJob(running.rows[0]), created: false };
        }
        // The partial unique index jobs_dedupe_waiting turns a second waiting job with this key
        // into a no-op (after waiting for a concurrent insert of the key to commit).
        const inserted = await sql.query<PgJobRow>(
          `INSERT INTO jobs (kind, name, dedupe_key, concurrency_key, node, payload, state, max_attempts, run_after, created_at, updated_at)
           VALUES ($1, $2, $3, $4, $9, $5, 'queued', $6, $7, $8, $8)
           ON CONFLICT DO NOTHING RETURNING *`,
          [input.kind, payload.job, key, input.concurrencyKey ?? null, JSON.stringify(payload), maxAttempts, input.runAfter ?? now, now, input.node ?? null],
        );
        if (inserted.rows[0]) return { job: pgRowToJob(inserted.rows[0]), created: true };
        const waiting = await sql.query<PgJobRow>(`SELECT * FROM jobs WHERE dedupe_key = $1 AND state IN ${WAITING}`, [key]);
        if (waiting.rows[0]) return { job: pgRowToJob(waiting.rows[0]), created: false };
        if (pass >= ENQUEUE_TRIES) throw new Error(`enqueue ${input.kind}: the waiting job with key ${key} changed state ${pass} times while adding; try again`);
      }
    });
  }

  /**
   * Claims the oldest runnable job: `FOR UPDATE SKIP LOCKED` lets nodes lease side by side
   * without waiting on each other, and one UPDATE sets a fresh token and expiry and counts the
   * attempt. A job under a capped concurrency key is leased only after taking that key's
   * advisory lock and counting its leases again, so two nodes never both take the last slot;
   * if the key turned out full, the transaction ends and the next pass leaves that key out.
   * The payload is validated again; a bad one sends the job `dead`. Null when idle.
   */
  async lease(options: LeaseOptions): Promise<LeaseResult | null> {
    const leaseMs = positiveInt("leaseMs", options.leaseMs ?? this.#leaseMs);
    const kinds = options.kinds ?? JOB_KINDS;
    const limits = Object.entries(options.keyLimits ?? {});
    for (const [key, limit] of limits) positiveInt(`keyLimits.${key}`, limit);
    const limitOf = new Map(limits);
    const full: string[] = [];
    // Each pass either leases, finds nothing, or adds one more capped key to `full`.
    for (let pass = 0; pass <= limits.length; pass++) {
      const result = await this.#db.transaction("lease", (sql) => this.#leaseOnce(sql, { ...options, kinds, leaseMs }, limitOf, full));
      if (result === "full") continue;
      return result;
    }
    return null;
  }

  async #leaseOnce(
    sql: Sql,
    options: LeaseOptions & { kinds: readonly JobKind[]; leaseMs: number },
    limitOf: ReadonlyMap<string, number>,
    full: string[],
  ): Promise<LeaseResult | null | "full"> {
    const now = this.#clock.now();
    const { rows } = await sql.query<PgJobRow>(
      `WITH saturated AS (
         -- Keys at their cap are computed once, so a long backlog for one slow remote costs a
         -- set lookup per row rather than a count per row.
         SELECT l.key FROM unnest($3::text[], $4::int[]) AS l(key, cap)
         WHERE (SELECT count(*) FROM jobs x WHERE x.state = 'leased' AND x.concurrency_key = l.key) >= l.cap)
       SELECT j.* FROM jobs j
       WHERE j.state IN ${WAITING} AND j.run_after <= $1 AND j.kind = ANY($2::text[])
         AND (j.concurrency_key IS NULL OR (j.concurrency_key NOT IN (SELECT key FROM saturated) AND j.concurrency_key <> ALL($5::text[])))
         -- An operator paused this config job (control.pause): its runs wait.
         AND NOT EXISTS (SELECT 1 FROM paused_jobs p WHERE p.name = j.name)
         -- A job bound to a node (an outbox upload) is leased by that node only.
         AND (j.node IS NULL OR j.node = $6)
       ORDER BY j.run_after, j.id LIMIT 1
       FOR UPDATE OF j SKIP LOCKED`,
      [now, options.kinds, [...limitOf.keys()], [...limitOf.values()], full, options.node ?? null],
    );
    const candidate = rows[0];
    if (!candidate) return null;
    const key = candidate.concurrency_key;
    const cap = key === null ? undefined : limitOf.get(key);
    if (key !== null && cap !== undefined) {
      // Held until commit: a node deciding on the same key waits here, then counts our lease.
      await sql.query(`SELECT pg_advisory_xact_lock($1, hashtext($2))`, [KEY_LOCK_NS, key]);
      const { rows: [count] } = await sql.query<{ n: number }>(`SELECT count(*) AS n FROM jobs WHERE state = 'leased' AND concurrency_key = $1`, [key]);
      if ((count?.n ?? 0) >= cap) {
        full.push(key);
        return "full";
      }
    }
    const { rows: [row] } = await sql.query<PgJobRow>(
      `UPDATE jobs SET state = 'leased', lease_owner = $2, lease_token = $3, lease_expires_at = $4,
         attempts = attempts + 1, updated_at = $5
       WHERE id = $1 RETURNING *`,
      [candidate.id, options.workerId, randomUUID(), now + options.leaseMs, now],
    );
    const job = pgRowToJob(row!);
    try {
      validatePayload(job.kind, job.payload);
      return { status: "leased", job: job as LeasedJob };
    } catch (err) {
      if (!(err instanceof PayloadError)) throw err;
      const dead = await finishJob(sql, job.id, "dead", `invalid payload: ${err.message}`, now);
      return { status: "rejected", job: dead, error: err };
    }
  }

  /** Extends a lease; returns the new expiry. Throws LeaseLostError when the lease is no longer held. */
  async heartbeat(lease: LeaseRef, options: { leaseMs?: number } = {}): Promise<number> {
    const now = this.#clock.now();
    const expires = now + positiveInt("leaseMs", options.leaseMs ?? this.#leaseMs);
    const r = await this.#db.statement(`heartbeat job ${lease.id}`,
      `UPDATE jobs SET lease_expires_at = $1, updated_at = $2 WHERE id = $3 AND lease_token = $4 AND state = 'leased'`,
      [expires, now, lease.id, lease.leaseToken],
    );
    if (r.rowCount === 0) throw new LeaseLostError(lease.id, "heartbeat");
    return expires;
  }

  /** Marks a leased job `done`, records its transfers and stores its notifications, in one transaction. Throws LeaseLostError. */
  async complete(lease: LeaseRef, options: { transfers?: readonly TransferInput[]; notify?: NotifyWith<Job> } = {}): Promise<Job> {
    const transfers = (options.transfers ?? []).map((t) => TransferLog.validate(t));
    const now = this.#clock.now();
    return this.#db.transaction(`complete job ${lease.id}`, async (sql) => {
      const row = await this.#held(sql, lease, "complete");
      const done = await finishJob(sql, row.id, "done", row.last_error, now);
      for (const t of transfers) await this.transfers.recordWith(sql, { ...t, jobId: row.id, jobName: row.name });
      if (options.notify) await this.hooks.addWith(sql, options.notify(done), now);
      return done;
    });
  }

  /**
   * Records a failed attempt: the job waits for its retry (state `failed`, run_after = now + backoff),
   * or goes `dead` when its attempts are used up or options.retryable is false. Throws LeaseLostError.
   */
  async fail(lease: LeaseRef, error: unknown, options: { retryable?: boolean; delayMs?: number; notify?: NotifyWith<RetryOutcome> } = {}): Promise<RetryOutcome> {
    const message = describeError(error);
    const now = this.#clock.now();
    if (options.delayMs !== undefined && !(Number.isFinite(options.delayMs) && options.delayMs >= 0)) {
      throw new RangeError(`fail job ${lease.id}: delayMs must be a finite number >= 0, got ${options.delayMs}`);
    }
    return this.#db.transaction(`fail job ${lease.id}`, async (sql) => {
      const row = await this.#held(sql, lease, "fail");
      let outcome: RetryOutcome;
      if (options.retryable === false || row.attempts >= row.max_attempts) {
        const why = options.retryable === false ? "not retryable" : `after ${row.attempts} attempts`;
        outcome = { outcome: "dead", job: await finishJob(sql, row.id, "dead", `${message} (${why})`, now) };
      } else {
        const delay = options.delayMs ?? backoffDelay(row.attempts - 1, this.#backoff, this.#rng);
        const back = await returnToWaiting(sql, row, { state: "failed", runAfter: now + Math.round(delay), attempts: row.attempts, error: message, now });
        outcome = { outcome: "retry", ...back };
      }
      if (options.notify) await this.hooks.addWith(sql, options.notify(outcome), now);
      return outcome;
    });
  }

  /** Puts a leased job back without using its attempt (RetryLaterError, or a graceful stop). Throws LeaseLostError. */
  async defer(lease: LeaseRef, options: { delayMs?: number; reason?: string } = {}): Promise<RetryOutcome> {
    const delayMs = options.delayMs ?? 0;
    if (!(Number.isFinite(delayMs) && delayMs >= 0)) throw new RangeError(`defer job ${lease.id}: delayMs must be a finite number >= 0, got ${delayMs}`);
    const now = this.#clock.now();
    return this.#db.transaction(`defer job ${lease.id}`, async (sql) => {
      const row = await this.#held(sql, lease, "defer");
      const back = await returnToWaiting(sql, row, { state: "queued", runAfter: now + Math.round(delayMs), attempts: Math.max(0, row.attempts - 1), error: null, now });
      return { outcome: "retry", ...back };
    });
  }

  /** Makes the waiting jobs of these config job names runnable now; returns how many were woken. */
  async wake(names: readonly string[]): Promise<number> {
    const now = this.#clock.now();
    const r = await this.#db.statement("wake jobs",
      `UPDATE jobs SET run_after = $2, updated_at = $2 WHERE name = ANY($1::text[]) AND state IN ${WAITING} AND run_after > $2`,
      [names, now],
    );
    return r.rowCount ?? 0;
  }

  /**
   * Returns every job whose lease has expired (its node died or hung) to waiting, as a failed
   * attempt runnable at once, or `dead` when that was its last attempt. Any node may call it;
   * a row a live worker is settling right now is skipped (it is locked) and stays its.
   */
  async recoverExpiredLeases(): Promise<RetryOutcome[]> {
    const now = this.#clock.now();
    return this.#db.transaction("recover expired leases", async (sql) => {
      const { rows } = await sql.query<PgJobRow>(
        `SELECT * FROM jobs WHERE state = 'leased' AND lease_expires_at <= $1 ORDER BY id FOR UPDATE SKIP LOCKED`,
        [now],
      );
      const outcomes: RetryOutcome[] = [];
      for (const row of rows) {
        const message = `lease expired (held by ${row.lease_owner ?? "unknown worker"})`;
        if (row.attempts >= row.max_attempts) {
          outcomes.push({ outcome: "dead", job: await finishJob(sql, row.id, "dead", `${message} on attempt ${row.attempts} of ${row.max_attempts}`, now) });
        } else {
          outcomes.push({ outcome: "retry", ...(await returnToWaiting(sql, row, { state: "failed", runAfter: now, attempts: row.attempts, error: message, now })) });
        }
      }
      return outcomes;
    });
  }

  /** Deletes `done` and `dead` jobs, and transfer history, finished more than olderThanMs ago. */
  async prune(options: { olderThanMs: number }): Promise<{ jobs: number; transfers: number }> {
    if (!(Number.isFinite(options.olderThanMs) && options.olderThanMs >= 0)) {
      throw new RangeError(`prune: olderThanMs must be a finite number >= 0, got ${options.olderThanMs}`);
    }
    const cutoff = this.#clock.now() - options.olderThanMs;
    return this.#db.transaction("prune", async (sql) => ({
      jobs: (await sql.query(`DELETE FROM jobs WHERE state IN ('done', 'dead') AND finished_at < $1`, [cutoff])).rowCount ?? 0,
      transfers: await this.transfers.pruneWith(sql, cutoff),
    }));
  }

  /** One job by id, or undefined. */
  async getJob(id: number): Promise<Job | undefined> {
    const { rows } = await this.#db.statement<PgJobRow>(`get job ${id}`, `SELECT * FROM jobs WHERE id = $1`, [id]);
    return rows[0] && pgRowToJob(rows[0]);
  }

  /** Jobs, newest first, optionally only some states and one config job name; default limit 100. */
  async listJobs(filter: { states?: readonly JobState[]; name?: string; limit?: number } = {}): Promise<Job[]> {
    const { rows } = await this.#db.statement<PgJobRow>("list jobs",
      `SELECT * FROM jobs WHERE state = ANY($1::text[]) AND ($2::text IS NULL OR name = $2) ORDER BY id DESC LIMIT $3`,
      [filter.states ?? JOB_STATES, filter.name ?? null, positiveInt("limit", filter.limit ?? 100)],
    );
    return rows.map(pgRowToJob);
  }

  /** Counts by state and latest outcomes per config job name, sorted by name (byte order, as SQLite sorts). */
  async jobSummaries(): Promise<JobSummary[]> {
    return this.#db.transaction("job summaries", async (sql) => {
      await sql.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ");
      const { rows } = await sql.query<{ name: string; kind: JobKind; state: JobState; n: number; last_success: number | null; next_run: number | null }>(
        `SELECT name, kind, state, count(*) AS n,
           max(CASE WHEN state = 'done' THEN finished_at END) AS last_success,
           min(CASE WHEN state IN ${WAITING} THEN run_after END) AS next_run
         FROM jobs GROUP BY name, kind, state ORDER BY name COLLATE "C", kind`,
      );
      const errors = await sql.query<{ name: string; last_error: string; at: number }>(
        `SELECT DISTINCT ON (name) name, last_error, last_error_at AS at FROM jobs
         WHERE last_error_at IS NOT NULL ORDER BY name, last_error_at DESC, id DESC`,
      );
      return summarize(rows, errors.rows);
    });
  }

  /** Closes the pool; later calls reject with QueueClosedError. */
  async close(): Promise<void> {
    await this.#db.close();
  }

  /** The leased row for this lease, row-locked until commit, or LeaseLostError. */
  async #held(sql: Sql, lease: LeaseRef, operation: string): Promise<PgJobRow> {
    const { rows } = await sql.query<PgJobRow>(
      `SELECT * FROM jobs WHERE id = $1 AND lease_token = $2 AND state = 'leased' FOR UPDATE`,
      [lease.id, lease.leaseToken],
    );
    if (!rows[0]) throw new LeaseLostError(lease.id, operation);
    return rows[0];
  }
}

function summarize(
  rows: readonly { name: string; kind: JobKind; state: JobState; n: number; last_success: number | null; next_run: number | null }[],
  errors: readonly { name: string; last_error: string; at: number }[],
): JobSummary[] {
  const byName = new Map<string, { name: string; kind: JobKind; counts: Record<JobState, number>; lastSuccessAt: number | null; nextRunAt: number | null }>();
  for (const r of rows) {
    const s = byName.get(r.name) ?? { name: r.name, kind: r.kind, counts: zeroCounts(), lastSuccessAt: null, nextRunAt: null };
    s.counts[r.state] += r.n;
    if (r.last_success !== null) s.lastSuccessAt = Math.max(s.lastSuccessAt ?? 0, r.last_success);
    if (r.next_run !== null) s.nextRunAt = Math.min(s.nextRunAt ?? Infinity, r.next_run);
    byName.set(r.name, s);
  }
  const lastErrors = new Map(errors.map((e) => [e.name, e]));
  return [...byName.values()].map((s) => ({ ...s, lastError: lastErrors.get(s.name)?.last_error ?? null, lastErrorAt: lastErrors.get(s.name)?.at ?? null }));
}

function zeroCounts(): Record<JobState, number> {
  return Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobState, number>;
}

function positiveInt(what: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${what} must be a positive integer, got ${value}`);
  return value;
}
