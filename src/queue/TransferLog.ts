import type { Database, Statement } from "better-sqlite3";
import { StatementCache } from "./StatementCache.js";
import { rowToTransfer, type TransferRow } from "./rows.js";
import { transferInputSchema, type Clock, type Transfer, type TransferInput } from "./types.js";

/** A transfer to record: what the handler reported plus which job did it. */
export interface TransferRecord extends TransferInput {
  /** The job row; null when recorded outside a job. */
  readonly jobId: number | null;
  readonly jobName: string;
  /** Default: now. */
  readonly finishedAt?: number;
}

/** The `transfers` history table: one row per verified file copy, read by `ferry status`. */
export class TransferLog {
  // parameters
  readonly #clock: Pick<Clock, "now">;
  // internal state
  readonly #statements: StatementCache;

  constructor(db: Database, clock: Pick<Clock, "now">) {
    this.#statements = new StatementCache(db);
    this.#clock = clock;
  }

  /** Checks a handler's transfer report; throws an Error naming each bad field. */
  static validate(input: TransferInput): TransferInput {
    const parsed = transferInputSchema.safeParse(input);
    if (!parsed.success) {
      throw new TypeError(`transfer record: ${parsed.error.issues.map((i) => `${i.path.join(".") || "record"}: ${i.message}`).join("; ")}`);
    }
    return parsed.data;
  }

  /** Appends one transfer; returns its row. */
  record(input: TransferRecord): Transfer {
    const t = TransferLog.validate({ path: input.path, bytes: input.bytes, durationMs: input.durationMs, verified: input.verified });
    const row = this.#stmt(
      `INSERT INTO transfers (job_id, job_name, path, bytes, duration_ms, verified, finished_at)
       VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING *`,
    ).get(input.jobId, input.jobName, t.path, t.bytes, t.durationMs, t.verified, input.finishedAt ?? this.#clock.now()) as TransferRow;
    return rowToTransfer(row);
  }

  /** Recent transfers, newest first; optionally one config job name or one job id; default limit 20. */
  list(filter: { jobName?: string; jobId?: number; limit?: number } = {}): Transfer[] {
    const limit = filter.limit ?? 20;
    if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`list transfers: limit must be a positive integer, got ${limit}`);
    // One statement per filter: "(@name IS NULL OR job_name = @name)" keeps SQLite from using
    // the (job_name, finished_at) index, and `ferry status` and /metrics ask this per job, so
    // every call sorted the whole history.
    const params = { name: filter.jobName ?? null, jobId: filter.jobId ?? null, limit };
    const where = filter.jobName !== undefined
      ? (filter.jobId !== undefined ? "job_name = @name AND job_id = @jobId" : "job_name = @name")
      : filter.jobId !== undefined ? "job_id = @jobId" : "1";
    const rows = this.#stmt(`SELECT * FROM transfers WHERE ${where} ORDER BY finished_at DESC, id DESC LIMIT @limit`)
      .all(Object.fromEntries(Object.entries(params).filter(([k]) => k === "limit" || where.includes(`@${k}`)))) as TransferRow[];
    return rows.map(rowToTransfer);
  }

  /** Deletes history finished before cutoff (ms since epoch); returns how many rows went. */
  pruneBefore(cutoff: number): number {
    return this.#stmt(`DELETE FROM transfers WHERE finished_at < ?`).run(cutoff).changes;
  }

  #stmt(sql: string): Statement {
    return this.#statements.get(sql);
  }
}
