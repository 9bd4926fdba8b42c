import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import BetterSqlite3, { type Database } from "better-sqlite3";
import { loadMigrations, migrate, migrationStatus } from "./migrate.js";

export type { Database } from "better-sqlite3";

/** Options for openDatabase. */
export interface OpenDatabaseOptions {
  /** Open read-only and do not migrate (for `ferry status` beside a running daemon); default false. */
  readonly?: boolean;
  /** How long a statement waits for another connection's write lock, in ms; default 5000. */
  busyTimeoutMs?: number;
  /** Folder of NNNN_name.sql files; default: this ferry's migrations/. */
  migrationsDir?: string;
  /** Time source for recording migrations; default Date.now. */
  now?: () => number;
}

/**
 * Opens (creating it and its folder if needed) the SQLite database at file (or ":memory:"),
 * sets the pragmas, and brings the schema up to date. A read-only open checks instead that the
 * schema is exactly current. Throws DatabaseTooNewError for a database from a newer ferry.
 */
export function openDatabase(file: string, options: OpenDatabaseOptions = {}): Database {
  const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
  if (!Number.isInteger(busyTimeoutMs) || busyTimeoutMs < 0) {
    throw new RangeError(`open database ${file}: busyTimeoutMs must be an integer >= 0, got ${busyTimeoutMs}`);
  }
  const readonly = options.readonly ?? false;
  const inMemory = file === ":memory:" || file === "";
  if (!readonly && !inMemory) mkdirSync(dirname(file), { recursive: true });
  let db: Database;
  try {
    db = new BetterSqlite3(file, { readonly, fileMustExist: readonly });
  } catch (err) {
    const hint = readonly ? " (it is created by the first `ferry daemon` run; check the `database` path in the config)" : "";
    throw new Error(`open database ${file}: ${(err as Error).message}${hint}`, { cause: err });
  }
  try {
    applyPragmas(db, { readonly, inMemory, busyTimeoutMs });
    const migrations = loadMigrations(options.migrationsDir);
    if (readonly) {
      const { pending } = migrationStatus(db, migrations, file);
      if (pending.length > 0) {
        throw new Error(
          `open database ${file}: its schema is older than this ferry (missing ${pending.map((m) => m.name).join(", ")}); ` +
            "start `ferry daemon` once with this ferry to migrate it",
        );
      }
    } else {
      migrate(db, { migrations, now: options.now });
    }
    return db;
  } catch (err) {
    db.close();
    if (isCorrupt(err)) throw new CorruptDatabaseError(file, err);
    throw err;
  }
}

/** Whether SQLite says the file is not a database or is damaged. */
function isCorrupt(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === "SQLITE_NOTADB" || code === "SQLITE_CORRUPT" || (typeof code === "string" && code.startsWith("SQLITE_CORRUPT_"));
}

/**
 * The queue database is not a database or is damaged. The message names the file and the way
 * out: the queue holds only work that can be found again (outbox files still in their folder
 * are queued at start, mirrors catch up), so moving the file aside loses the history only.
 */
export class CorruptDatabaseError extends Error {
  override readonly name = "CorruptDatabaseError";
  constructor(readonly file: string, cause: unknown) {
    super(
      `open database ${file}: it is not a ferry queue database or it is damaged (${(cause as Error).message}); ` +
        `move it aside (mv ${file} ${file}.corrupt, with its -wal and -shm files) and start the daemon again: ` +
        "it creates an empty queue, queues the files still in the watched outboxes, and runs the mirrors at once (catch-up) or at their next scheduled time; " +
        "only the job and transfer history is lost",
      { cause },
    );
  }
}

function applyPragmas(db: Database, opts: { readonly: boolean; inMemory: boolean; busyTimeoutMs: number }): void {
  // busy_timeout first: the WAL switch below itself needs the write lock.
  db.pragma(`busy_timeout = ${opts.busyTimeoutMs}`);
  db.pragma("foreign_keys = ON");
  if (opts.readonly || opts.inMemory) return;
  // WAL lets `ferry status` read while the daemon writes, and makes commits cheap.
  const mode = db.pragma("journal_mode = WAL", { simple: true });
  if (mode !== "wal") throw new Error(`open database ${db.name}: could not enable WAL (journal_mode is ${String(mode)}); is the file on a network filesystem?`);
  // NORMAL is durable against process crashes (SIGKILL) in WAL mode; only a power loss can
  // drop the last commits, which then re-run (jobs are idempotent by design).
  db.pragma("synchronous = NORMAL");
}
