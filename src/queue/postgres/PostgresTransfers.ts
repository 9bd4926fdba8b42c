import { TransferLog, type TransferRecord } from "../TransferLog.js";
import type { TransferHistory } from "../Queue.js";
import type { Clock, Transfer } from "../types.js";
import type { PgDatabase, Sql } from "./PgDatabase.js";
import { pgRowToTransfer, type PgTransferRow } from "./rows.js";

/** The `transfers` history table on Postgres: one row per verified file copy, read by `ferry status`. */
export class PostgresTransfers implements TransferHistory {
  // parameters
  readonly #db: PgDatabase;
  readonly #clock: Pick<Clock, "now">;

  constructor(db: PgDatabase, clock: Pick<Clock, "now">) {
    this.#db = db;
    this.#clock = clock;
  }

  /** Appends one transfer; returns its row. */
  async record(input: TransferRecord): Promise<Transfer> {
    return this.#db.run("record transfer", (sql) => this.recordWith(sql, input));
  }

  /** record() on a given connection, so complete() writes the job's transfers in its own transaction. */
  async recordWith(sql: Sql, input: TransferRecord): Promise<Transfer> {
    const t = TransferLog.validate({ path: input.path, bytes: input.bytes, durationMs: input.durationMs, verified: input.verified });
    const { rows } = await sql.query<PgTransferRow>(
      `INSERT INTO transfers (job_id, job_name, path, bytes, duration_ms, verified, finished_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *`,
      [input.jobId, input.jobName, t.path, t.bytes, t.durationMs, t.verified, input.finishedAt ?? this.#clock.now()],
    );
    return pgRowToTransfer(rows[0]!);
  }

  /** Recent transfers, newest first; optionally one config job name or one job id; default limit 20. */
  async list(filter: { jobName?: string; jobId?: number; limit?: number } = {}): Promise<Transfer[]> {
    const limit = filter.limit ?? 20;
    if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`list transfers: limit must be a positive integer, got ${limit}`);
    const { rows } = await this.#db.statement<PgTransferRow>("list transfers",
      `SELECT * FROM transfers WHERE ($1::text IS NULL OR job_name = $1) AND ($2::bigint IS NULL OR job_id = $2)
       ORDER BY finished_at DESC, id DESC LIMIT $3`,
      [filter.jobName ?? null, filter.jobId ?? null, limit],
    );
    return rows.map(pgRowToTransfer);
  }

  /** Deletes history finished before cutoff (ms since epoch); returns how many rows went. */
  async pruneBefore(cutoff: number): Promise<number> {
    return this.#db.run("prune transfers", (sql) => this.pruneWith(sql, cutoff));
  }

  /** pruneBefore() on a given connection (the queue's prune transaction). */
  async pruneWith(sql: Sql, cutoff: number): Promise<number> {
    return (await sql.query("DELETE FROM transfers WHERE finished_at < $1", [cutoff])).rowCount ?? 0;
  }
}
