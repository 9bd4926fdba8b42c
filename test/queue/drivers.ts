// The queue drivers every shared queue test runs against (issue 16): each case runs once per
// entry, through the async Queue API only: SQLite (:memory:) and Postgres (a fresh schema of a
// throwaway cluster per test file, test/queue/postgresDriver.ts).
import type { TestContext } from "node:test";
import { openDatabase, SqliteQueue, type BackoffPolicy, type Clock, type Queue } from "../../src/queue/index.js";
import { postgresTestDriver } from "./postgresDriver.js";

/** What a test may set on the queue it opens. */
export interface QueueTestOptions {
  readonly leaseMs?: number;
  readonly maxAttempts?: number;
  readonly backoff?: Partial<BackoffPolicy>;
  readonly clock?: Pick<Clock, "now">;
  readonly rng?: () => number;
}

/** A driver as the shared suite sees it: open() gives an empty, migrated queue, closed after the test. */
export interface QueueTestDriver {
  readonly name: "sqlite" | "postgres";
  open(t: TestContext, options?: QueueTestOptions): Promise<Queue>;
}

/** SQLite: a fresh :memory: database with the migrations applied. */
export const sqliteDriver: QueueTestDriver = {
  name: "sqlite",
  async open(t, options = {}) {
    const queue = new SqliteQueue(openDatabase(":memory:"), options);
    t.after(() => queue.close());
    return queue;
  },
};

/** Every driver the shared cases run against. */
export const drivers: readonly QueueTestDriver[] = [sqliteDriver, postgresTestDriver];
