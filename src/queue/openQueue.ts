import type { BackoffPolicy } from "./backoff.js";
import { openDatabase } from "./database.js";
import type { Queue } from "./Queue.js";
import { isPostgresUrl } from "./redactUrl.js";
import { SqliteQueue } from "./sqlite/SqliteQueue.js";
import type { Clock } from "./types.js";

/** Options of openQueue. */
export interface OpenQueueOptions {
  /** A SQLite path (or ":memory:"), or a postgres:// / postgresql:// URL. */
  readonly database: string;
  /** SQLite: open read-only and do not migrate (`ferry status` beside a running daemon); default false. Postgres has no read-only open: status only reads. */
  readonly readonly?: boolean;
  /** How long a lease lasts without a heartbeat, in ms; default 60000. */
  readonly leaseMs?: number;
  /** Attempts before a failing job goes `dead`; default 5. */
  readonly maxAttempts?: number;
  /** Retry delays; default DEFAULT_BACKOFF. */
  readonly backoff?: Partial<BackoffPolicy>;
  /** Time source; default the system clock. */
  readonly clock?: Pick<Clock, "now">;
  /** Random source in [0, 1) for backoff jitter; default Math.random. */
  readonly rng?: () => number;
}

/**
 * Opens the queue named by `database`: a path → SQLite (WAL, pragmas, migrations, as
 * openDatabase); a postgres:// URL → the Postgres driver (loaded only then, so a SQLite
 * daemon never loads pg).
 */
export async function openQueue(options: OpenQueueOptions): Promise<Queue> {
  const { database, readonly, ...tuning } = options;
  if (isPostgresUrl(database)) {
    // Loaded only for a URL: a single-box daemon never loads pg.
    const { openPostgresQueue } = await import("./postgres/index.js");
    return openPostgresQueue({ url: database, ...tuning });
  }
  const db = openDatabase(database, { readonly: readonly ?? false });
  try {
    return new SqliteQueue(db, { where: database, ...tuning });
  } catch (err) {
    db.close();
    throw err;
  }
}
