import { join } from "node:path";
import { MigrationError } from "../errors.js";
import { defaultMigrationsDir, loadMigrations, pendingMigrations } from "../migrate.js";
import type { PgDatabase } from "./PgDatabase.js";

/** The `migrations/postgres/` folder of this ferry (0001_init.sql, then any later NNNN_name.sql, e.g. the fleet's). */
export function defaultPostgresMigrationsDir(): string {
  return join(defaultMigrationsDir(), "postgres");
}

/** Options for migratePostgres. */
export interface PostgresMigrateOptions {
  /** Folder of NNNN_name.sql files; default defaultPostgresMigrationsDir(). */
  migrationsDir?: string;
  /** Time source for applied_at; default Date.now. */
  now?: () => number;
}

// One fixed key for the whole fleet: every node that starts takes it before reading or changing
// the schema, so two nodes starting at once migrate once and the second finds the work done.
// (The two-int form keeps it apart from the per-key lease locks, which use another namespace.)
const MIGRATION_LOCK = [0x66657272, 1] as const; // "ferr", 1

const UPGRADE = "upgrade ferry on this node (every node of a fleet must run the same version or newer), or point `database` in the config at another database";

const CREATE_TABLE = `
  CREATE TABLE IF NOT EXISTS schema_migrations (
    id         integer PRIMARY KEY,
    name       text    NOT NULL,
    applied_at bigint  NOT NULL
  )`;

/**
 * Brings a Postgres queue database up to date: under a session advisory lock, creates the
 * bookkeeping table, refuses a database that records a migration this build lacks
 * (DatabaseTooNewError) or names one differently (MigrationError), and applies each pending
 * file in order in its own transaction that first records it. Returns the names applied.
 */
export async function migratePostgres(db: PgDatabase, options: PostgresMigrateOptions = {}): Promise<string[]> {
  const migrations = loadMigrations(options.migrationsDir ?? defaultPostgresMigrationsDir());
  const now = options.now ?? Date.now;
  return db.withClient("open queue database", async (client) => {
    await client.query("SELECT pg_advisory_lock($1, $2)", [...MIGRATION_LOCK]);
    try {
      await client.query(CREATE_TABLE);
      const { rows } = await client.query<{ id: number; name: string }>("SELECT id, name FROM schema_migrations ORDER BY id");
      const applied: string[] = [];
      for (const migration of pendingMigrations(rows, migrations, `database ${db.where}`, UPGRADE)) {
        await client.query("BEGIN");
        try {
          await client.query("INSERT INTO schema_migrations (id, name, applied_at) VALUES ($1, $2, $3)", [migration.id, migration.name, now()]);
          await client.query(migration.sql);
          await client.query("COMMIT");
        } catch (err) {
          await client.query("ROLLBACK").catch(() => undefined);
          throw new MigrationError(`migration ${migration.name} on ${db.where}: ${(err as Error).message}`, { cause: err });
        }
        applied.push(migration.name);
      }
      return applied;
    } finally {
      // A dead connection drops the lock with the session; unlocking it then fails harmlessly.
      await client.query("SELECT pg_advisory_unlock($1, $2)", [...MIGRATION_LOCK]).catch(() => undefined);
    }
  });
}
