import { randomUUID } from "node:crypto";
import type { Database, Statement } from "better-sqlite3";
import { assertPolicy, backoffDelay, DEFAULT_BACKOFF, type BackoffPolicy } from "./backoff.js";
import { LeaseLostError, PayloadError } from "./errors.js";
import { describeError, rowToJob, type JobRow } from "./rows.js";
import { StatementCache } from "./StatementCache.js";
import { TransferLog } from "./TransferLog.js";
import {
  JOB_KINDS,
  JOB_STATES,
  payloadSchemas,
  systemClock,
  type Clock,
  type Job,
  type JobKind,
  type JobState,
  type LeasedJob,
  type LeaseRef,
  type PayloadOf,
  type TransferInput,
} from "./types.js";

/** Options for a JobStore. */
export interface JobStoreOptions {
  /** Time source; default the system clock. Only now() is used. */
  clock?: Pick<Clock, "now">;
  /** Random source in [0, 1) for backoff jitter; default Math.random. */
  rng?: () => number;
  /** How long a lease lasts without a heartbeat, in ms; default 60000. */
  leaseMs?: number;
  /** Attempts (leases) before a failing job goes `dead`, unless enqueue says otherwise; default 5. */
  maxAttempts?: number;
  /** Retry delays; default DEFAULT_BACKOFF (1 s doubling to 5 min, ±20 %). */
  backoff?: Partial<BackoffPolicy>;
}

/** What to enqueue. */
export interface EnqueueInput<K extends JobKind> {
  readonly kind: K;
  readonly payload: PayloadOf<K>;
  /** Jobs with the same key coalesce while one waits (e.g. "upload:outbox:/data/outbox/a.csv"). */
  readonly dedupeKey?: string;
  /** Groups jobs for per-key lease caps (e.g. the remote's name). */
  readonly concurrencyKey?: string;
  /** Only a lease naming this node takes it (an outbox upload: the node whose disk has the file). */
  readonly node?: string;
  /** Not leasable before this time; default now. */
  readonly runAfter?: number;
  /** Overrides the store's maxAttempts for this job. */
  readonly maxAttempts?: number;
}

/** Options for enqueue. */
export interface EnqueueOptions {
  /** Also coalesce with a job of the same key that is running (leased); default false (a scheduled mirror wants true, an upload of a file that changed mid-transfer wants false). */
  coalesceWithLeased?: boolean;
}

/** Result of enqueue: the job that will do the work, and whether it is new. */
export interface EnqueueResult {
  readonly job: Job;
  readonly created: boolean;
}

/** Options for lease. */
export interface LeaseOptions {
  /** Recorded as lease_owner, for operators (e.g. "host:pid:worker-2"). */
  readonly workerId: string;
  /** Only these kinds; default all. */
  readonly kinds?: readonly JobKind[];
  /** Lease duration in ms; default the store's leaseMs. */
  readonly leaseMs?: number;
  /** Most jobs leased at once per concurrency key (e.g. { backup: 4 }); keys not listed are unlimited. */
  readonly keyLimits?: Readonly<Record<string, number>>;
  /** This node's name: jobs bound to another node are left alone; default none (only unbound jobs). */
  readonly node?: string;
}

/** Result of lease: a job to run, or a job whose payload failed validation and went `dead`. */
export type LeaseResult =
  | { readonly status: "leased"; readonly job: LeasedJob }
  | { readonly status: "rejected"; readonly job: Job; readonly error: PayloadError };

/** Options for fail. */
export interface FailOptions {
  /** False sends the job straight to `dead` (the error cannot heal by retrying); default true. */
  retryable?: boolean;
  /** Wait this long instead of the backoff delay (e.g. a server's "try again in 60 s"). */
  delayMs?: number;
  /** Runs inside the transaction with the outcome, so what it writes commits with it (hook notifications). */
  within?: (outcome: RetryOutcome) => void;
}

/** Where a job went after fail or lease recovery. When mergedInto is set, the row was folded into a waiting job with the same dedupe key. */
export interface RetryOutcome {
  readonly outcome: "retry" | "dead";
  /** The row that now carries the work (the merged-into job when mergedInto is set). */
  readonly job: Job;
  readonly mergedInto?: number;
}

/** Per config job name: counts by state and the latest outcomes, for `ferry status`. */
export interface JobSummary {
  readonly name: string;
  readonly kind: JobKind;
  readonly counts: Readonly<Record<JobState, number>>;
  readonly lastSuccessAt: number | null;
  readonly lastError: string | null;
  readonly lastErrorAt: number | null;
  /** Earliest run_after among waiting jobs, or null when none wait. */
  readonly nextRunAt: number | null;
}

const WAITING = "('queued', 'failed')";

/**
 * The durable job queue over one SQLite connection. Every method is
 * one transaction; several stores (and processes) may share a database file.
 */
export class JobStore {
  // parameters
  readonly #db: Database;
  readonly #clock: Pick<Clock, "now">;
  readonly #rng: () => number;
  readonly #leaseMs: number;
  readonly #maxAttempts: number;
  readonly #backoff: BackoffPolicy;
  /** The transfer history table. */
  readonly transfers: TransferLog;
  // internal state
  readonly #statements: StatementCache;

  constructor(db: Database, options: JobStoreOptions = {}) {
    this.#db = db;
    this.#statements = new StatementCache(db);
    this.#clock = options.clock ?? systemClock;
    this.#rng = options.rng ?? Math.random;
    this.#leaseMs = positiveInt("leaseMs", options.leaseMs ?? 60_000);
    this.#maxAttempts = positiveInt("maxAttempts", options.maxAttempts ?? 5);
    this.#backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
    assertPolicy(this.#backoff);
    this.transfers = new TransferLog(db, this.#clock);
  }

  /** The default lease duration in ms (a runner heartbeats well within it). */
  get leaseMs(): number {
    return this.#leaseMs;
  }

  /** Adds a job, or returns the waiting job with the same dedupe key. Throws PayloadError for a bad payload. */
  enqueue<K extends JobKind>(input: EnqueueInput<K>, options: EnqueueOptions = {}): EnqueueResult {
    const payload = validatePayload(input.kind, input.payload);
    const maxAttempts = positiveInt("maxAttempts", input.maxAttempts ?? this.#maxAttempts);
    const now = this.#clock.now();
    const key = input.dedupeKey ?? null;
    for (const [field, value] of [["dedupeKey", input.dedupeKey], ["concurrencyKey", input.concurrencyKey], ["node", input.node]] as const) {
      if (value !== undefined && (typeof value !== "string" || value.length === 0)) {
        throw new TypeError(`enqueue ${input.kind}: ${field} must be a non-empty string or left out, got ${JSON.stringify(value)}`);
      }
    }
    if (input.runAfter !== undefined && !Number.isSafeInteger(input.runAfter)) {
      throw new TypeError(`enqueue ${input.kind}: runAfter must be integer ms since epoch, got ${input.runAfter}`);
    }
    return this.#transaction(() => {
      if (key !== null && options.coalesceWithLeased) {
        const running = this.#stmt(`SELECT * FROM jobs WHERE dedupe_key = ? AND state = 'leased' ORDER BY id LIMIT 1`).get(key) as JobRow | undefined;
        if (running) return { job: rowToJob(running), created: false };
      }
      // The partial unique index jobs_dedupe_waiting turns a second waiting job with this key
      // into a no-op; RETURNING then yields nothing and we fetch the one that is waiting.
      const inserted = this.#stmt(
        `INSERT INTO jobs (kind, name, dedupe_key, concurrency_key, node, payload, state, max_attempts, run_after, created_at, updated_at)
         VALUES (@kind, @name, @key, @ckey, @node, @payload, 'queued', @maxAttempts, @runAfter, @now, @now)
         ON CONFLICT DO NOTHING RETURNING *`,
      ).get({
        kind: input.kind,
        name: payload.job,
        key,
        ckey: input.concurrencyKey ?? null,
        node: input.node ?? null,
        payload: JSON.stringify(payload),
        maxAttempts,
        runAfter: input.runAfter ?? now,
        now,
      }) as JobRow | undefined;
      if (inserted) return { job: rowToJob(inserted), created: true };
      const waiting = this.#stmt(`SELECT * FROM jobs WHERE dedupe_key = ? AND state IN ${WAITING}`).get(key) as JobRow;
      return { job: rowToJob(waiting), created: false };
    });
  }

  /**
   * Claims the oldest runnable job by compare-and-swap: one UPDATE sets a fresh lease token and
   * expiry and counts the attempt, so two workers (or processes) never hold the same job. The
   * payload is validated again; a bad one sends the job `dead` with the zod message. Null when idle.
   */
  lease(options: LeaseOptions): LeaseResult | null {
    const leaseMs = positiveInt("leaseMs", options.leaseMs ?? this.#leaseMs);
    const kinds = options.kinds ?? JOB_KINDS;
    for (const [key, limit] of Object.entries(options.keyLimits ?? {})) positiveInt(`keyLimits.${key}`, limit);
    const now = this.#clock.now();
    return this.#transaction(() => {
      const row = this.#stmt(
        `UPDATE jobs SET state = 'leased', lease_owner = @owner, lease_token = @token,
           lease_expires_at = @expires, attempts = attempts + 1, updated_at = @now
         WHERE state IN ${WAITING} AND id = (
           -- Keys at their cap are computed once, so a long backlog for one slow remote costs
           -- a cheap set lookup per row rather than a count per row.
           WITH saturated AS (
             SELECT l.key FROM json_each(@limits) l
             WHERE (SELECT count(*) FROM jobs x WHERE x.state = 'leased' AND x.concurrency_key = l.key) >= l.value)
           SELECT j.id FROM jobs j
           WHERE j.state IN ${WAITING} AND j.run_after <= @now
             AND j.kind IN (SELECT value FROM json_each(@kinds))
             AND (j.concurrency_key IS NULL OR j.concurrency_key NOT IN (SELECT key FROM saturated))
             -- A job bound to a node (an outbox upload) is leased by that node only.
             AND (j.node IS NULL OR j.node = @node)
             -- An operator paused this config job (JobControl.pause): its runs wait.
             AND j.name NOT IN (SELECT name FROM paused_jobs)
           ORDER BY j.run_after, j.id LIMIT 1)
         RETURNING *`,
      ).get({
        owner: options.workerId,
        token: randomUUID(),
        expires: now + leaseMs,
        now,
        kinds: JSON.stringify(kinds),
        node: options.node ?? null,
        limits: JSON.stringify(options.keyLimits ?? {}),
      }) as JobRow | undefined;
      if (!row) return null;
      const job = rowToJob(row);
      try {
        validatePayload(job.kind, job.payload);
        return { status: "leased", job: job as LeasedJob };
      } catch (err) {
        if (!(err instanceof PayloadError)) throw err;
        const dead = this.#finish(row.id, "dead", `invalid payload: ${err.message}`, now);
        return { status: "rejected", job: dead, error: err };
      }
    });
  }

  /** Extends a lease; returns the new expiry. Throws LeaseLostError when the lease is no longer held. */
  heartbeat(lease: LeaseRef, options: { leaseMs?: number } = {}): number {
    const expires = this.#clock.now() + positiveInt("leaseMs", options.leaseMs ?? this.#leaseMs);
    const { changes } = this.#stmt(
      `UPDATE jobs SET lease_expires_at = ?, updated_at = ? WHERE id = ? AND lease_token = ? AND state = 'leased'`,
    ).run(expires, this.#clock.now(), lease.id, lease.leaseToken);
    if (changes === 0) throw new LeaseLostError(lease.id, "heartbeat");
    return expires;
  }

  /** Marks a leased job `done` and records its transfers, in one transaction. Throws LeaseLostError. */
  complete(lease: LeaseRef, options: { transfers?: readonly TransferInput[]; within?: (done: Job) => void } = {}): Job {
    const transfers = (options.transfers ?? []).map((t) => TransferLog.validate(t));
    const now = this.#clock.now();
    return this.#transaction(() => {
      const row = this.#held(lease, "complete");
      const done = this.#finish(row.id, "done", row.last_error, now);
      for (const t of transfers) this.transfers.record({ ...t, jobId: row.id, jobName: row.name });
      options.within?.(done);
      return done;
    });
  }

  /**
   * Records a failed attempt: the job waits for its retry (state `failed`, run_after = now + backoff),
   * or goes `dead` when its attempts are used up or options.retryable is false. Throws LeaseLostError.
   */
  fail(lease: LeaseRef, error: unknown, options: FailOptions = {}): RetryOutcome {
    const message = describeError(error);
    const now = this.#clock.now();
    if (options.delayMs !== undefined && !(Number.isFinite(options.delayMs) && options.delayMs >= 0)) {
      throw new RangeError(`fail job ${lease.id}: delayMs must be a finite number >= 0, got ${options.delayMs}`);
    }
    return this.#transaction(() => {
      const row = this.#held(lease, "fail");
      let outcome: RetryOutcome;
      if (options.retryable === false || row.attempts >= row.max_attempts) {
        const why = options.retryable === false ? "not retryable" : `after ${row.attempts} attempts`;
        outcome = { outcome: "dead", job: this.#finish(row.id, "dead", `${message} (${why})`, now) };
      } else {
        const delay = options.delayMs ?? backoffDelay(row.attempts - 1, this.#backoff, this.#rng);
        outcome = { outcome: "retry", ...this.#returnToWaiting(row, { state: "failed", runAfter: now + Math.round(delay), attempts: row.attempts, error: message, now }) };
      }
      options.within?.(outcome);
      return outcome;
    });
  }

  /** Puts a leased job back without using its attempt (RetryLaterError, or a graceful stop). Throws LeaseLostError. */
  defer(lease: LeaseRef, options: { delayMs?: number; reason?: string } = {}): RetryOutcome {
    const delayMs = options.delayMs ?? 0;
    if (!(Number.isFinite(delayMs) && delayMs >= 0)) throw new RangeError(`defer job ${lease.id}: delayMs must be a finite number >= 0, got ${delayMs}`);
    const now = this.#clock.now();
    return this.#transaction(() => {
      const row = this.#held(lease, "defer");
      const back = this.#returnToWaiting(row, {
        state: "queued",
        runAfter: now + Math.round(delayMs),
        attempts: Math.max(0, row.attempts - 1),
        error: null,
        now,
      });
      return { outcome: "retry", ...back };
    });
  }

  /**
   * Makes the waiting (queued or failed) jobs of these config job names runnable now, e.g.
   * when the full disk they wait for has room again. Returns how many were woken.
   */
  wake(names: readonly string[]): number {
    const now = this.#clock.now();
    let n = 0;
    this.#transaction(() => {
      for (const name of names) {
        n += this.#stmt(`UPDATE jobs SET run_after = @now, updated_at = @now WHERE name = @name AND state IN ${WAITING} AND run_after > @now`)
          .run({ name, now }).changes;
      }
    });
    return n;
  }

  /**
   * Returns every job whose lease has expired (its worker died or hung) to waiting, as a failed
   * attempt runnable at once, or `dead` when that was its last attempt. Call at start and
   * periodically. Returns what happened to each.
   */
  recoverExpiredLeases(): RetryOutcome[] {
    const now = this.#clock.now();
    return this.#transaction(() => {
      const expired = this.#stmt(`SELECT * FROM jobs WHERE state = 'leased' AND lease_expires_at <= ? ORDER BY id`).all(now) as JobRow[];
      return expired.map((row): RetryOutcome => {
        const message = `lease expired (held by ${row.lease_owner ?? "unknown worker"})`;
        if (row.attempts >= row.max_attempts) {
          return { outcome: "dead", job: this.#finish(row.id, "dead", `${message} on attempt ${row.attempts} of ${row.max_attempts}`, now) };
        }
        return { outcome: "retry", ...this.#returnToWaiting(row, { state: "failed", runAfter: now, attempts: row.attempts, error: message, now }) };
      });
    });
  }

  /** Deletes `done` and `dead` jobs, and transfer history, finished more than olderThanMs ago. */
  prune(options: { olderThanMs: number }): { jobs: number; transfers: number } {
    if (!(Number.isFinite(options.olderThanMs) && options.olderThanMs >= 0)) {
      throw new RangeError(`prune: olderThanMs must be a finite number >= 0, got ${options.olderThanMs}`);
    }
    const cutoff = this.#clock.now() - options.olderThanMs;
    return this.#transaction(() => ({
      jobs: this.#stmt(`DELETE FROM jobs WHERE state IN ('done', 'dead') AND finished_at < ?`).run(cutoff).changes,
      transfers: this.transfers.pruneBefore(cutoff),
    }));
  }

  /** One job by id, or undefined. */
  getJob(id: number): Job | undefined {
    const row = this.#stmt(`SELECT * FROM jobs WHERE id = ?`).get(id) as JobRow | undefined;
    return row && rowToJob(row);
  }

  /** Jobs, newest first, optionally only some states and one config job name; default limit 100. */
  listJobs(filter: { states?: readonly JobState[]; name?: string; limit?: number } = {}): Job[] {
    const rows = this.#stmt(
      `SELECT * FROM jobs WHERE state IN (SELECT value FROM json_each(@states)) AND (@name IS NULL OR name = @name)
       ORDER BY id DESC LIMIT @limit`,
    ).all({ states: JSON.stringify(filter.states ?? JOB_STATES), name: filter.name ?? null, limit: positiveInt("limit", filter.limit ?? 100) }) as JobRow[];
    return rows.map(rowToJob);
  }

  /** Counts by state and latest outcomes per config job name, sorted by name. */
  jobSummaries(): JobSummary[] {
    const rows = this.#stmt(
      `SELECT name, kind, state, count(*) AS n,
         max(CASE WHEN state = 'done' THEN finished_at END) AS last_success,
         min(CASE WHEN state IN ${WAITING} THEN run_after END) AS next_run
       FROM jobs GROUP BY name, kind, state ORDER BY name, kind`,
    ).all() as { name: string; kind: JobKind; state: JobState; n: number; last_success: number | null; next_run: number | null }[];
    const errors = this.#stmt(
      `SELECT name, last_error, max(last_error_at) AS at FROM jobs WHERE last_error_at IS NOT NULL GROUP BY name`,
    ).all() as { name: string; last_error: string; at: number }[];
    const byName = new Map<string, { name: string; kind: JobKind; counts: Record<JobState, number>; lastSuccessAt: number | null; nextRunAt: number | null }>();
    for (const r of rows) {
      const s = byName.get(r.name) ?? { name: r.name, kind: r.kind, counts: zeroCounts(), lastSuccessAt: null, nextRunAt: null };
      s.counts[r.state] += r.n;
      if (r.last_success !== null) s.lastSuccessAt = Math.max(s.lastSuccessAt ?? 0, r.last_success);
      if (r.next_run !== null) s.nextRunAt = Math.min(s.nextRunAt ?? Infinity, r.next_run);
      byName.set(r.name, s);
    }
    const lastErrors = new Map(errors.map((e) => [e.name, e]));
    return [...byName.values()].map((s) => ({
      ...s,
      lastError: lastErrors.get(s.name)?.last_error ?? null,
      lastErrorAt: lastErrors.get(s.name)?.at ?? null,
    }));
  }

  // --- internals ---

  /** The leased row for this lease, or LeaseLostError. */
  #held(lease: LeaseRef, operation: string): JobRow {
    const row = this.#stmt(`SELECT * FROM jobs WHERE id = ? AND lease_token = ? AND state = 'leased'`).get(lease.id, lease.leaseToken) as JobRow | undefined;
    if (!row) throw new LeaseLostError(lease.id, operation);
    return row;
  }

  /** Moves a row to a final state, clearing its lease. */
  #finish(id: number, state: "done" | "dead", error: string | null, now: number): Job {
    const row = this.#stmt(
      `UPDATE jobs SET state = @state, lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL,
         last_error = @error, last_error_at = CASE WHEN @error IS last_error THEN last_error_at ELSE @now END,
         finished_at = @now, updated_at = @now
       WHERE id = @id RETURNING *`,
    ).get({ id, state, error, now }) as JobRow;
    return rowToJob(row);
  }

  /**
   * Returns a leased row to a waiting state. If another job with the same dedupe key already
   * waits (it was enqueued while this one ran), this row is folded into it instead: the waiting
   * job is newer, so it carries the latest payload, and two waiting rows would do the work twice.
   * The survivor keeps the higher attempt count, so a job that keeps failing still reaches `dead`.
   */
  #returnToWaiting(
    row: JobRow,
    to: { state: "queued" | "failed"; runAfter: number; attempts: number; error: string | null; now: number },
  ): { job: Job; mergedInto?: number } {
    const sibling = row.dedupe_key === null ? undefined : (this.#stmt(
      `SELECT id FROM jobs WHERE dedupe_key = ? AND state IN ${WAITING} AND id != ?`,
    ).get(row.dedupe_key, row.id) as { id: number } | undefined);
    if (sibling) {
      this.#stmt(`DELETE FROM jobs WHERE id = ?`).run(row.id);
      const merged = this.#stmt(
        `UPDATE jobs SET attempts = max(attempts, @attempts), updated_at = @now,
           last_error = coalesce(@error, last_error), last_error_at = CASE WHEN @error IS NULL THEN last_error_at ELSE @now END
         WHERE id = @id RETURNING *`,
      ).get({ id: sibling.id, attempts: to.attempts, error: to.error, now: to.now }) as JobRow;
      return { job: rowToJob(merged), mergedInto: sibling.id };
    }
    const back = this.#stmt(
      `UPDATE jobs SET state = @state, run_after = @runAfter, attempts = @attempts,
         lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL,
         last_error = coalesce(@error, last_error), last_error_at = CASE WHEN @error IS NULL THEN last_error_at ELSE @now END,
         updated_at = @now
       WHERE id = @id RETURNING *`,
    ).get({ id: row.id, ...to }) as JobRow;
    return { job: rowToJob(back) };
  }

  /** How many #transaction calls are running (nested ones become savepoints). */
  #depth = 0;

  #stmt(sql: string): Statement {
    return this.#statements.get(sql);
  }

  /** Runs fn in an IMMEDIATE transaction: taking the write lock up front means a read-then-write never fails with SQLITE_BUSY halfway. */
  #transaction<T>(fn: () => T): T {
    const outermost = this.#depth === 0;
    // A transaction left open by a failed COMMIT and a failed ROLLBACK (see below): end it first.
    if (outermost && this.#db.inTransaction) this.#db.exec("ROLLBACK");
    this.#depth++;
    try {
      return this.#db.transaction(fn).immediate();
    } catch (err) {
      // A COMMIT that fails with SQLITE_FULL leaves the transaction open, and the ROLLBACK
      // better-sqlite3 then tries can fail the same way. Left open, every later call would
      // run as a savepoint inside it and nothing would ever commit, even once space returns
      // (D5). Close it here; if that fails too, the next call tries again.
      if (outermost && this.#db.inTransaction) {
        try {
          this.#db.exec("ROLLBACK");
        } catch {
          // still no room: the next transaction rolls back first
        }
      }
      throw err;
    } finally {
      this.#depth--;
    }
  }
}

/** Parses a payload with its kind's schema; throws PayloadError listing each problem by path. */
export function validatePayload<K extends JobKind>(kind: K, payload: unknown): PayloadOf<K> {
  const schema = payloadSchemas[kind] as (typeof payloadSchemas)[JobKind] | undefined;
  if (!schema) throw new PayloadError(String(kind), `unknown job kind "${String(kind)}"; known kinds: ${JOB_KINDS.join(", ")}`);
  const parsed = schema.safeParse(payload);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.length ? i.path.join(".") : "payload"}: ${i.message}`);
    throw new PayloadError(kind, `${kind} payload: ${problems.join("; ")}`);
  }
  return parsed.data as PayloadOf<K>;
}

function zeroCounts(): Record<JobState, number> {
  return Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobState, number>;
}

function positiveInt(what: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${what} must be a positive integer, got ${value}`);
  return value;
}
