// Putting a row back to waiting, the one place where the "one waiting job per dedupe key" rule
// meets concurrency: another node may enqueue the same key between our look for a waiting
// sibling and our UPDATE. The unique index then refuses the UPDATE (23505); we roll back to a
// savepoint and look again, and now find the sibling (the refusal waited for its commit).
import { pgRowToJob, type PgJobRow } from "./rows.js";
import type { Sql } from "./PgDatabase.js";
import type { Job } from "../types.js";

/** The states a job waits in (for its first run, or for its retry). */
export const WAITING = "('queued', 'failed')";

const UNIQUE_VIOLATION = "23505";
const FOLD_TRIES = 3;

/** Runs attempt inside a savepoint, running it again (bounded) when the unique waiting-key index refuses it. */
export async function retryOnWaitingConflict<T>(sql: Sql, attempt: () => Promise<T>): Promise<T> {
  for (let i = 1; ; i++) {
    await sql.query("SAVEPOINT waiting_key");
    try {
      const result = await attempt();
      await sql.query("RELEASE SAVEPOINT waiting_key");
      return result;
    } catch (err) {
      if ((err as { code?: unknown }).code !== UNIQUE_VIOLATION || i >= FOLD_TRIES) throw err;
      await sql.query("ROLLBACK TO SAVEPOINT waiting_key");
    }
  }
}

/** The waiting job with this dedupe key other than excludeId, row-locked so it cannot be leased while we fold into it. */
export async function lockWaitingSibling(sql: Sql, dedupeKey: string | null, excludeId: number): Promise<number | undefined> {
  if (dedupeKey === null) return undefined;
  const { rows } = await sql.query<{ id: number }>(
    `SELECT id FROM jobs WHERE dedupe_key = $1 AND state IN ${WAITING} AND id <> $2 FOR UPDATE`,
    [dedupeKey, excludeId],
  );
  return rows[0]?.id;
}

/** Where a returning row went. */
export interface Returned {
  readonly job: Job;
  readonly mergedInto?: number;
}

/**
 * Returns a leased row to a waiting state, or folds it into a newer waiting job with the same
 * dedupe key (it carries the latest payload; the survivor keeps the higher attempt count), as
 * the SQLite store does.
 */
export async function returnToWaiting(
  sql: Sql,
  row: PgJobRow,
  to: { state: "queued" | "failed"; runAfter: number; attempts: number; error: string | null; now: number },
): Promise<Returned> {
  return retryOnWaitingConflict(sql, async () => {
    const sibling = await lockWaitingSibling(sql, row.dedupe_key, row.id);
    if (sibling !== undefined) {
      await sql.query("DELETE FROM jobs WHERE id = $1", [row.id]);
      const { rows } = await sql.query<PgJobRow>(
        `UPDATE jobs SET attempts = GREATEST(attempts, $2::int), updated_at = $3::bigint,
           last_error = coalesce($4::text, last_error), last_error_at = CASE WHEN $4::text IS NULL THEN last_error_at ELSE $3::bigint END
         WHERE id = $1 RETURNING *`,
        [sibling, to.attempts, to.now, to.error],
      );
      return { job: pgRowToJob(rows[0]!), mergedInto: sibling };
    }
    const { rows } = await sql.query<PgJobRow>(
      `UPDATE jobs SET state = $2, run_after = $3::bigint, attempts = $4::int,
         lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL,
         last_error = coalesce($5::text, last_error), last_error_at = CASE WHEN $5::text IS NULL THEN last_error_at ELSE $6::bigint END,
         updated_at = $6::bigint
       WHERE id = $1 RETURNING *`,
      [row.id, to.state, to.runAfter, to.attempts, to.error, to.now],
    );
    return { job: pgRowToJob(rows[0]!) };
  });
}

/** Moves a row to a final state, clearing its lease. */
export async function finishJob(sql: Sql, id: number, state: "done" | "dead", error: string | null, now: number): Promise<Job> {
  const { rows } = await sql.query<PgJobRow>(
    `UPDATE jobs SET state = $2, lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL,
       last_error = $3::text, last_error_at = CASE WHEN $3::text IS NOT DISTINCT FROM last_error THEN last_error_at ELSE $4::bigint END,
       finished_at = $4::bigint, updated_at = $4::bigint
     WHERE id = $1 RETURNING *`,
    [id, state, error, now],
  );
  return pgRowToJob(rows[0]!);
}
