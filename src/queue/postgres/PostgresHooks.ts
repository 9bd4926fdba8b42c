import type { HookDeliveries, HookDelivery, HookSummary, NotificationInput } from "../Queue.js";
import type { PgDatabase, Sql } from "./PgDatabase.js";
import { pgRowToDelivery, type PgDeliveryRow } from "./rows.js";

/** How long a taken notification is reserved for the node delivering it: past the longest hook timeout (1 h). */
const CLAIM_MS = 61 * 60_000;

/** The `hook_deliveries` table on Postgres: notifications taken in order per hook (the SQLite HookStore's semantics). */
export class PostgresHooks implements HookDeliveries {
  // parameters
  readonly #db: PgDatabase;

  constructor(db: PgDatabase) {
    this.#db = db;
  }

  /** Adds notifications (one per hook and event), due at `now`, in one transaction. */
  async add(items: readonly NotificationInput[], now: number): Promise<void> {
    if (items.length === 0) return;
    await this.#db.transaction("add hook notifications", (sql) => this.addWith(sql, items, now));
  }

  /** add() on a given connection, so an outcome and its notifications commit together. */
  async addWith(sql: Sql, items: readonly NotificationInput[], now: number): Promise<void> {
    for (const { hook, facts } of items) {
      await sql.query(
        `INSERT INTO hook_deliveries (hook, event, job_name, facts, next_attempt_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5, $5)`,
        [hook, facts.event, facts.job ?? null, JSON.stringify(facts), now],
      );
    }
  }

  /**
   * The oldest pending notification of each hook, if due, skipping `busy` hooks; at most `limit`.
   * Every node of a fleet dispatches, so taking a notification claims it: its next attempt moves
   * CLAIM_MS ahead (longer than the longest hook timeout), and the others skip it. delivered,
   * retry and giveUp then settle it; a node that dies mid-delivery leaves it to be taken again
   * once the claim runs out (notifications are at least once, as after a crash on one box).
   */
  async due(now: number, limit: number, busy: ReadonlySet<string>): Promise<HookDelivery[]> {
    const { rows } = await this.#db.statement<PgDeliveryRow>("hook deliveries due",
      `UPDATE hook_deliveries SET next_attempt_at = $4, updated_at = $1
       WHERE id IN (
         SELECT d.id FROM hook_deliveries d
         WHERE d.state = 'pending' AND d.next_attempt_at <= $1 AND NOT (d.hook = ANY($2::text[]))
           AND d.id = (SELECT min(p.id) FROM hook_deliveries p WHERE p.hook = d.hook AND p.state = 'pending')
         ORDER BY d.next_attempt_at, d.id LIMIT $3
         FOR UPDATE SKIP LOCKED)
       AND next_attempt_at <= $1
       RETURNING *`,
      [now, [...busy], limit, now + CLAIM_MS],
    );
    return rows.map(pgRowToDelivery).sort((a, b) => a.id - b.id);
  }

  /** When the next notification of a hook that is not `busy` is due (ms since epoch), or undefined when none waits. */
  async nextDue(busy: ReadonlySet<string> = new Set()): Promise<number | undefined> {
    const { rows } = await this.#db.statement<{ at: number | null }>("next hook delivery",
      `SELECT min(d.next_attempt_at) AS at FROM hook_deliveries d
       WHERE d.state = 'pending' AND NOT (d.hook = ANY($1::text[]))
         AND d.id = (SELECT min(p.id) FROM hook_deliveries p WHERE p.hook = d.hook AND p.state = 'pending')`,
      [[...busy]],
    );
    return rows[0]?.at ?? undefined;
  }

  /** Marks a notification delivered. */
  async delivered(id: number, attempts: number, now: number): Promise<void> {
    await this.#db.statement("mark hook delivered", `UPDATE hook_deliveries SET state = 'delivered', attempts = $2, finished_at = $3, updated_at = $3 WHERE id = $1`, [id, attempts, now]);
  }

  /** Records a failed try; the notification is tried again at `retryAt`. */
  async retry(id: number, attempts: number, error: string, retryAt: number, now: number): Promise<void> {
    await this.#db.statement("retry hook delivery", `UPDATE hook_deliveries SET attempts = $2, last_error = $3, next_attempt_at = $4, updated_at = $5 WHERE id = $1`, [id, attempts, error, retryAt, now]);
  }

  /** Hands a taken notification back untried (its claim dropped): due again at `now`. */
  async release(id: number, now: number): Promise<void> {
    await this.#db.statement("release hook delivery", `UPDATE hook_deliveries SET next_attempt_at = $2, updated_at = $2 WHERE id = $1 AND state = 'pending'`, [id, now]);
  }

  /** Gives a notification up (attempts used, or its hook left the config). */
  async giveUp(id: number, attempts: number, error: string, now: number): Promise<void> {
    await this.#db.statement("give up hook delivery", `UPDATE hook_deliveries SET state = 'failed', attempts = $2, last_error = $3, finished_at = $4, updated_at = $4 WHERE id = $1`, [id, attempts, error, now]);
  }

  /** Deletes finished notifications older than cutoff; returns how many went. */
  async pruneBefore(cutoff: number): Promise<number> {
    return (await this.#db.statement("prune hook deliveries", `DELETE FROM hook_deliveries WHERE finished_at IS NOT NULL AND finished_at < $1`, [cutoff])).rowCount ?? 0;
  }

  /** Every notification (of one hook), oldest first; default limit 1000. */
  async list(filter: { hook?: string; limit?: number } = {}): Promise<HookDelivery[]> {
    const { rows } = await this.#db.statement<PgDeliveryRow>("list hook deliveries",
      `SELECT * FROM hook_deliveries WHERE ($1::text IS NULL OR hook = $1) ORDER BY id LIMIT $2`,
      [filter.hook ?? null, filter.limit ?? 1000],
    );
    return rows.map(pgRowToDelivery);
  }

  /** Pending, retrying and given-up notifications, for `ferry status`; one transaction so the counts agree with the lists. */
  async summary(): Promise<HookSummary> {
    return this.#db.transaction("hook summary", async (sql) => {
      await sql.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ");
      const counts = await sql.query<{ pending: number; failed: number }>(
        `SELECT count(*) FILTER (WHERE state = 'pending') AS pending, count(*) FILTER (WHERE state = 'failed') AS failed FROM hook_deliveries`,
      );
      const retrying = await sql.query<PgDeliveryRow>(`SELECT * FROM hook_deliveries WHERE state = 'pending' AND attempts > 0 ORDER BY id LIMIT 10`);
      const gaveUp = await sql.query<PgDeliveryRow>(`SELECT * FROM hook_deliveries WHERE state = 'failed' ORDER BY finished_at DESC, id DESC LIMIT 10`);
      return {
        pending: counts.rows[0]?.pending ?? 0,
        retrying: retrying.rows.map(pgRowToDelivery),
        gaveUp: gaveUp.rows.map(pgRowToDelivery),
        gaveUpCount: counts.rows[0]?.failed ?? 0,
      };
    });
  }
}
