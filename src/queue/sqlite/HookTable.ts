import type { Database, Statement } from "better-sqlite3";
import type { HookFacts } from "../../daemon/hooks/facts.js";
import type { HookDelivery, HookSummary, NotificationInput } from "../Queue.js";
import { StatementCache } from "../StatementCache.js";

interface Row {
  id: number; hook: string; event: string; job_name: string | null; facts: string; state: string;
  attempts: number; next_attempt_at: number; last_error: string | null; created_at: number;
}

function toDelivery(r: Row): HookDelivery {
  return {
    id: r.id, hook: r.hook, event: r.event as HookDelivery["event"], jobName: r.job_name, facts: JSON.parse(r.facts) as HookFacts,
    state: r.state as HookDelivery["state"], attempts: r.attempts, nextAttemptAt: r.next_attempt_at, lastError: r.last_error, createdAt: r.created_at,
  };
}

/**
 * The `hook_deliveries` table of the SQLite queue, synchronous: notifications are added by
 * whoever saw the event (inside the transaction of the outcome that caused them, when there is
 * one), taken in order per hook, and marked delivered, retried or given up.
 */
export class HookTable {
  // parameters
  readonly #db: Database;
  // internal state
  readonly #statements: StatementCache;

  constructor(db: Database) {
    this.#db = db;
    this.#statements = new StatementCache(db);
  }

  /** Adds notifications (one per hook and event), due at `now`, in one transaction (or inside the caller's). */
  add(items: readonly NotificationInput[], now: number): void {
    if (items.length === 0) return;
    const insert = this.#stmt(
      `INSERT INTO hook_deliveries (hook, event, job_name, facts, next_attempt_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
    );
    const run = (): void => {
      for (const { hook, facts } of items) insert.run(hook, facts.event, facts.job ?? null, JSON.stringify(facts), now, now, now);
    };
    if (this.#db.inTransaction) run();
    else this.#db.transaction(run).immediate();
  }

  /**
   * The notifications to try now: the oldest pending one of each hook (a hook's notifications go
   * in order, so a start ping never overtakes nothing before it), if it is due, skipping `busy` hooks.
   */
  due(now: number, limit: number, busy: ReadonlySet<string>): HookDelivery[] {
    const rows = this.#stmt(
      `SELECT d.* FROM hook_deliveries d
       WHERE d.state = 'pending' AND d.next_attempt_at <= ?
         AND d.id = (SELECT min(p.id) FROM hook_deliveries p WHERE p.hook = d.hook AND p.state = 'pending')
       ORDER BY d.next_attempt_at, d.id LIMIT ?`,
    ).all(now, limit + busy.size) as Row[];
    return rows.filter((r) => !busy.has(r.hook)).slice(0, limit).map(toDelivery);
  }

  /** When the next notification of a hook that is not `busy` is due (ms since epoch), or undefined when none waits. */
  nextDue(busy: ReadonlySet<string> = new Set()): number | undefined {
    const heads = this.#stmt(
      `SELECT d.hook, d.next_attempt_at AS at FROM hook_deliveries d
       WHERE d.state = 'pending' AND d.id = (SELECT min(p.id) FROM hook_deliveries p WHERE p.hook = d.hook AND p.state = 'pending')`,
    ).all() as { hook: string; at: number }[];
    let next: number | undefined;
    for (const h of heads) if (!busy.has(h.hook) && (next === undefined || h.at < next)) next = h.at;
    return next;
  }

  /** Marks a notification delivered. */
  delivered(id: number, attempts: number, now: number): void {
    this.#stmt(`UPDATE hook_deliveries SET state = 'delivered', attempts = ?, finished_at = ?, updated_at = ? WHERE id = ?`).run(attempts, now, now, id);
  }

  /** Records a failed try; the notification is tried again at `retryAt`. */
  retry(id: number, attempts: number, error: string, retryAt: number, now: number): void {
    this.#stmt(`UPDATE hook_deliveries SET attempts = ?, last_error = ?, next_attempt_at = ?, updated_at = ? WHERE id = ?`).run(attempts, error, retryAt, now, id);
  }

  /** Hands a taken notification back untried: due again at `now`. */
  release(id: number, now: number): void {
    this.#stmt(`UPDATE hook_deliveries SET next_attempt_at = ?, updated_at = ? WHERE id = ? AND state = 'pending'`).run(now, now, id);
  }

  /** Gives a notification up (attempts used, or its hook left the config). */
  giveUp(id: number, attempts: number, error: string, now: number): void {
    this.#stmt(`UPDATE hook_deliveries SET state = 'failed', attempts = ?, last_error = ?, finished_at = ?, updated_at = ? WHERE id = ?`).run(attempts, error, now, now, id);
  }

  /** Deletes finished notifications older than cutoff; returns how many went. */
  pruneBefore(cutoff: number): number {
    return this.#stmt(`DELETE FROM hook_deliveries WHERE finished_at IS NOT NULL AND finished_at < ?`).run(cutoff).changes;
  }

  /** Every notification of a hook, oldest first (for tests and the API). */
  list(filter: { hook?: string; limit?: number } = {}): HookDelivery[] {
    return (this.#stmt(`SELECT * FROM hook_deliveries WHERE (@hook IS NULL OR hook = @hook) ORDER BY id LIMIT @limit`)
      .all({ hook: filter.hook ?? null, limit: filter.limit ?? 1000 }) as Row[]).map(toDelivery);
  }

  /** Pending, retrying and given-up notifications, for `ferry status`. */
  summary(): HookSummary {
    const pending = this.#stmt(`SELECT count(*) FROM hook_deliveries WHERE state = 'pending'`).pluck().get() as number;
    const retrying = (this.#stmt(`SELECT * FROM hook_deliveries WHERE state = 'pending' AND attempts > 0 ORDER BY id LIMIT 10`).all() as Row[]).map(toDelivery);
    const gaveUpCount = this.#stmt(`SELECT count(*) FROM hook_deliveries WHERE state = 'failed'`).pluck().get() as number;
    const gaveUp = (this.#stmt(`SELECT * FROM hook_deliveries WHERE state = 'failed' ORDER BY finished_at DESC, id DESC LIMIT 10`).all() as Row[]).map(toDelivery);
    return { pending, retrying, gaveUp, gaveUpCount };
  }

  #stmt(sql: string): Statement {
    return this.#statements.get(sql);
  }
}
