import type { BackoffPolicy } from "./backoff.js";
import { openDatabase } from "./database.js";
import type { Queue } from "./Queue.js";
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

/** What the Postgres driver's module exports (src/queue/postgres/index.ts). */
export interface PostgresDriverModule {
  openPostgresQueue(options: {
    url: string;
    leaseMs?: number;
    maxAttempts?: number;
    backoff?: Partial<BackoffPolicy>;
    clock?: Pick<Clock, "now">;
    rng?: () => number;
  }): Promise<Queue>;
}

/** The Postgres driver is not part of this build. */
export class QueueDriverMissingError extends Error {
  override readonly name = "QueueDriverMissingError";
}

/** Whether `database` names a Postgres server rather than a SQLite file. */
export function isPostgresUrl(database: string): boolean {
  return /^postgres(ql)?:\/\//i.test(database);
}

/**
 * The database as messages may show it: a URL without its password (in the user part or a
 * `password=` parameter); a SQLite path as it is.
 */
export function redactUrl(database: string): string {
  if (!isPostgresUrl(database)) return database;
  let url: URL;
  try {
    url = new URL(database);
  } catch {
    // Unparsable: show only the scheme and host part up to any credentials.
    return database.replace(/\/\/[^@/]*@/, "//***@");
  }
  url.password = "";
  for (const key of [...url.searchParams.keys()]) if (key.toLowerCase() === "password") url.searchParams.set(key, "***");
  return url.toString();
}

/**
 * Opens the queue named by `database`: a path → SQLite (WAL, pragmas, migrations, as
 * openDatabase); a postgres:// URL → the Postgres driver (loaded only then, so a SQLite
 * daemon never loads pg).
 */
export async function openQueue(options: OpenQueueOptions): Promise<Queue> {
  const { database, readonly, ...tuning } = options;
  if (isPostgresUrl(database)) {
    const driver = await loadPostgresDriver();
    return driver.openPostgresQueue({ url: database, ...tuning });
  }
  const db = openDatabase(database, { readonly: readonly ?? false });
  try {
    return new SqliteQueue(db, { where: database, ...tuning });
  } catch (err) {
    db.close();
    throw err;
  }
}

/**
 * MERGE POINT (issue 16): the one place that reaches the Postgres driver. It lives in
 * src/queue/postgres/ (index.ts exports openPostgresQueue); the path is built at run time so a
 * build without that folder still compiles, and says so plainly when a URL asks for it.
 */
async function loadPostgresDriver(): Promise<PostgresDriverModule> {
  const specifier = new URL(["postgres", "index.js"].join("/"), import.meta.url).href;
  let loaded: unknown;
  try {
    loaded = await import(specifier);
  } catch (err) {
    const code = (err as { code?: unknown } | null)?.code;
    // Only the driver itself missing; a dependency missing inside it is a different fault.
    if ((code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND") && /Cannot find module '[^']*postgres[\/\\]index\.[jt]s'/.test(String((err as Error).message))) {
      throw new QueueDriverMissingError(
        "the Postgres driver is not installed in this build; use a SQLite path for `database:` (default ./var/ferry.db) or a ferry build with Postgres support",
        { cause: err },
      );
    }
    throw err;
  }
  const open = (loaded as Partial<PostgresDriverModule>).openPostgresQueue;
  if (typeof open !== "function") throw new QueueDriverMissingError("the Postgres driver of this build does not export openPostgresQueue");
  return { openPostgresQueue: open };
}
