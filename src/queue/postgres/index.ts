// The Postgres queue driver (issue 16): several daemons on several machines share one queue.
//
//   const queue = await openPostgresQueue({ url: "postgres://ferry@db.example/ferry", leaseMs: 60_000 });
//   // migrated under an advisory lock (two nodes starting at once migrate once); a database from a
//   // newer ferry is refused (DatabaseTooNewError); a refused connection or login is a typed error
//   // naming the URL without its password (DatabaseUnreachableError, DatabaseAuthError).
//   await queue.enqueue({ kind: "mirror", payload: { job: "photos" }, dedupeKey: "mirror:photos" });
//   const lease = await queue.lease({ workerId: "node-a:1234:w1", keyLimits: { backup: 8 } });  // caps hold fleet-wide
import type { BackoffPolicy } from "../backoff.js";
import type { Queue } from "../Queue.js";
import type { Clock } from "../types.js";
import { migratePostgres } from "./migrate.js";
import { PgDatabase } from "./PgDatabase.js";
import { PostgresQueue } from "./PostgresQueue.js";

/** Options for openPostgresQueue. */
export interface OpenPostgresQueueOptions {
  /** postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE; the password is never shown (give it through the environment). */
  url: string;
  /** How long a lease lasts without a heartbeat, in ms; default 60000 (a dead node's jobs return after about a minute). */
  leaseMs?: number;
  /** Attempts before a failing job goes `dead`; default 5. */
  maxAttempts?: number;
  /** Retry delays; default 1 s doubling to 5 min, ±20 %. */
  backoff?: Partial<BackoffPolicy>;
  /** Time source for every time written; default the system clock. */
  clock?: Pick<Clock, "now">;
  /** Random source in [0, 1) for backoff jitter; default Math.random. */
  rng?: () => number;
  /** Most connections this process holds; default 10. */
  poolSize?: number;
  /** Folder of NNNN_name.sql files; default this ferry's migrations/postgres/. */
  migrationsDir?: string;
}

/**
 * Connects to the Postgres queue at options.url, brings its schema up to date (or refuses a
 * newer one) and returns the queue. Rejects with DatabaseUnreachableError, DatabaseAuthError,
 * DatabaseConfigError, DatabaseTooNewError or MigrationError; nothing is left open then.
 */
export async function openPostgresQueue(options: OpenPostgresQueueOptions): Promise<Queue> {
  const db = new PgDatabase(options.url, { poolSize: options.poolSize });
  try {
    const queue = new PostgresQueue(db, options);
    const clock = options.clock;
    await migratePostgres(db, { migrationsDir: options.migrationsDir, now: clock ? () => clock.now() : undefined });
    return queue;
  } catch (err) {
    await db.close().catch(() => undefined);
    throw err;
  }
}

export { PostgresQueue, type PostgresQueueOptions } from "./PostgresQueue.js";
export { PgDatabase, type PgDatabaseOptions, type Sql } from "./PgDatabase.js";
export { migratePostgres, defaultPostgresMigrationsDir, type PostgresMigrateOptions } from "./migrate.js";
export { DatabaseUnreachableError, DatabaseAuthError, DatabaseConfigError, QueueClosedError, redactUrl } from "./errors.js";
