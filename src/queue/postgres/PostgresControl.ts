import type { PausedJob } from "../JobControl.js";
import type { QueueControl } from "../Queue.js";
import type { Clock, Job } from "../types.js";
import type { PgDatabase } from "./PgDatabase.js";
import { pgRowToJob, type PgJobRow } from "./rows.js";
import { lockWaitingSibling, retryOnWaitingConflict, WAITING } from "./waiting.js";

/**
 * What an operator does to the queue by hand (`ferry jobs …`, the HTTP API), on Postgres: the
 * SQLite JobControl's semantics. None of it touches a lease: a worker's writes stay guarded by
 * their token, so an operator acting on any node while a job runs elsewhere cannot corrupt it.
 */
export class PostgresControl implements QueueControl {
  // parameters
  readonly #db: PgDatabase;
  readonly #clock: Pick<Clock, "now">;

  constructor(db: PgDatabase, clock: Pick<Clock, "now">) {
    this.#db = db;
    this.#clock = clock;
  }

  /** Pauses a config job on every node: its waiting runs are not leased until resume. False when it was already paused. */
  async pause(name: string): Promise<boolean> {
    const r = await this.#db.statement("pause job", `INSERT INTO paused_jobs (name, paused_at) VALUES ($1, $2) ON CONFLICT DO NOTHING`, [name, this.#clock.now()]);
    return (r.rowCount ?? 0) > 0;
  }

  /** Resumes a paused config job; false when it was not paused. */
  async resume(name: string): Promise<boolean> {
    return ((await this.#db.statement("resume job", `DELETE FROM paused_jobs WHERE name = $1`, [name])).rowCount ?? 0) > 0;
  }

  /** Every paused config job, by name. */
  async paused(): Promise<PausedJob[]> {
    const { rows } = await this.#db.statement<{ name: string; paused_at: number }>("list paused jobs", `SELECT name, paused_at FROM paused_jobs ORDER BY name`);
    return rows.map((r) => ({ name: r.name, pausedAt: r.paused_at }));
  }

  /** Dead runs, newest first; optionally of one config job; default limit 100. */
  async dead(filter: { name?: string; limit?: number } = {}): Promise<Job[]> {
    const { rows } = await this.#db.statement<PgJobRow>("list dead jobs",
      `SELECT * FROM jobs WHERE state = 'dead' AND ($1::text IS NULL OR name = $1) ORDER BY id DESC LIMIT $2`,
      [filter.name ?? null, filter.limit ?? 100],
    );
    return rows.map(pgRowToJob);
  }

  /**
   * Gives dead runs a fresh set of attempts, runnable now: one by id, or every dead run. A dead
   * run whose work already waits in another run (same dedupe key) is folded into that one.
   */
  async retryDead(filter: { id?: number } = {}): Promise<{ retried: number[]; folded: { id: number; into: number }[] }> {
    const now = this.#clock.now();
    return this.#db.transaction("retry dead jobs", async (sql) => {
      const { rows } = await sql.query<PgJobRow>(
        `SELECT * FROM jobs WHERE state = 'dead' AND ($1::bigint IS NULL OR id = $1) ORDER BY id FOR UPDATE`,
        [filter.id ?? null],
      );
      const retried: number[] = [];
      const folded: { id: number; into: number }[] = [];
      for (const row of rows) {
        await retryOnWaitingConflict(sql, async () => {
          const sibling = await lockWaitingSibling(sql, row.dedupe_key, row.id);
          if (sibling !== undefined) {
            await sql.query(`DELETE FROM jobs WHERE id = $1`, [row.id]);
            await sql.query(`UPDATE jobs SET run_after = LEAST(run_after, $2::bigint), updated_at = $2::bigint WHERE id = $1`, [sibling, now]);
            folded.push({ id: row.id, into: sibling });
            return;
          }
          await sql.query(
            `UPDATE jobs SET state = 'queued', attempts = 0, run_after = $2, finished_at = NULL, updated_at = $2 WHERE id = $1 AND state = 'dead'`,
            [row.id, now],
          );
          retried.push(row.id);
        });
      }
      return { retried, folded };
    });
  }

  /** Removes waiting (queued or failed, not running) runs of a config job, or the one with this id; returns them, oldest first. */
  async cancelWaiting(filter: { name: string; id?: number }): Promise<Job[]> {
    const { rows } = await this.#db.statement<PgJobRow>("cancel waiting jobs",
      `DELETE FROM jobs WHERE state IN ${WAITING} AND name = $1 AND ($2::bigint IS NULL OR id = $2) RETURNING *`,
      [filter.name, filter.id ?? null],
    );
    return rows.map(pgRowToJob).sort((a, b) => a.id - b.id);
  }
}
