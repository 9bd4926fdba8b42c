import type { Database, Statement } from "better-sqlite3";
import { rowToJob, type JobRow } from "./rows.js";
import { StatementCache } from "./StatementCache.js";
import { systemClock, type Clock, type Job } from "./types.js";

/** A config job an operator paused. */
export interface PausedJob {
  readonly name: string;
  readonly pausedAt: number;
}

const WAITING = "('queued', 'failed')";

/**
 * What an operator does to the queue by hand (issue 14: `ferry jobs …` and the HTTP API):
 * pause and resume a config job, retry dead runs, cancel waiting runs. Its own class beside
 * JobStore because none of it touches a lease: a worker's writes stay guarded by their token,
 * so an operator acting while a job runs cannot corrupt that run.
 */
export class JobControl {
  // parameters
  readonly #db: Database;
  readonly #clock: Pick<Clock, "now">;
  // internal state
  readonly #statements: StatementCache;

  constructor(db: Database, options: { clock?: Pick<Clock, "now"> } = {}) {
    this.#db = db;
    this.#clock = options.clock ?? systemClock;
    this.#statements = new StatementCache(db);
  }

  /** Pauses a config job: its waiting runs are not leased until resume. Returns false when it was already paused. */
  pause(name: string): boolean {
    return this.#stmt(`INSERT INTO paused_jobs (name, paused_at) VALUES (?, ?) ON CONFLICT DO NOTHING`).run(name, this.#clock.now()).changes > 0;
  }

  /** Resumes a paused config job; returns false when it was not paused. */
  resume(name: string): boolean {
    return this.#stmt(`DELETE FROM paused_jobs WHERE name = ?`).run(name).changes > 0;
  }

  /** Every paused config job, by name. */
  paused(): PausedJob[] {
    return (this.#stmt(`SELECT name, paused_at FROM paused_jobs ORDER BY name`).all() as { name: string; paused_at: number }[])
      .map((r) => ({ name: r.name, pausedAt: r.paused_at }));
  }

  /** Dead runs, newest first; optionally of one config job; default limit 100. */
  dead(filter: { name?: string; limit?: number } = {}): Job[] {
    const rows = this.#stmt(`SELECT * FROM jobs WHERE state = 'dead' AND (@name IS NULL OR name = @name) ORDER BY id DESC LIMIT @limit`)
      .all({ name: filter.name ?? null, limit: filter.limit ?? 100 }) as JobRow[];
    return rows.map(rowToJob);
  }

  /**
   * Gives dead runs a fresh set of attempts, runnable now: one by id, or every dead run. A dead
   * run whose work is already waiting in another run (same dedupe key) is folded into that one,
   * since the unique waiting key allows one and two would do the work twice. Returns the ids
   * that are waiting again (the folded ones under the id of the run that carries them).
   */
  retryDead(filter: { id?: number } = {}): { retried: number[]; folded: { id: number; into: number }[] } {
    const now = this.#clock.now();
    return this.#db.transaction(() => {
      const rows = (filter.id === undefined
        ? this.#stmt(`SELECT * FROM jobs WHERE state = 'dead' ORDER BY id`).all()
        : this.#stmt(`SELECT * FROM jobs WHERE state = 'dead' AND id = ?`).all(filter.id)) as JobRow[];
      const retried: number[] = [];
      const folded: { id: number; into: number }[] = [];
      for (const row of rows) {
        const sibling = row.dedupe_key === null ? undefined
          : (this.#stmt(`SELECT id FROM jobs WHERE dedupe_key = ? AND state IN ${WAITING}`).get(row.dedupe_key) as { id: number } | undefined);
        if (sibling) {
          this.#stmt(`DELETE FROM jobs WHERE id = ?`).run(row.id);
          this.#stmt(`UPDATE jobs SET run_after = min(run_after, @now), updated_at = @now WHERE id = @id`).run({ id: sibling.id, now });
          folded.push({ id: row.id, into: sibling.id });
          continue;
        }
        this.#stmt(
          `UPDATE jobs SET state = 'queued', attempts = 0, run_after = @now, finished_at = NULL, updated_at = @now WHERE id = @id AND state = 'dead'`,
        ).run({ id: row.id, now });
        retried.push(row.id);
      }
      return { retried, folded };
    }).immediate();
  }

  /**
   * Removes waiting (queued or failed, not running) runs of a config job, or the one with this
   * id; returns the removed runs. A running run is never touched: its lease belongs to a worker.
   */
  cancelWaiting(filter: { name: string; id?: number }): Job[] {
    const rows = this.#stmt(
      `DELETE FROM jobs WHERE state IN ${WAITING} AND name = @name AND (@id IS NULL OR id = @id) RETURNING *`,
    ).all({ name: filter.name, id: filter.id ?? null }) as JobRow[];
    return rows.map(rowToJob);
  }

  #stmt(sql: string): Statement {
    return this.#statements.get(sql);
  }
}
