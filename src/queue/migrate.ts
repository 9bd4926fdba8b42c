import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Database } from "better-sqlite3";
import { DatabaseTooNewError, MigrationError } from "./errors.js";

/** One numbered schema change from `migrations/NNNN_name.sql`. */
export interface Migration {
  /** The number (1 for 0001_init.sql). */
  readonly id: number;
  /** The file name without `.sql`, e.g. "0001_init". */
  readonly name: string;
  readonly sql: string;
}

const FILE_PATTERN = /^(\d{4})_([a-z0-9_]+)\.sql$/;

/**
 * The `migrations/` folder of this ferry: found by walking up from this module, because the
 * source (src/queue) and the build (dist/src/queue) sit at different depths below it.
 */
export function defaultMigrationsDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, "migrations");
    if (existsSync(join(candidate, "0001_init.sql"))) return candidate;
    dir = dirname(dir);
  }
  throw new MigrationError(
    `no migrations/0001_init.sql found above ${fileURLToPath(import.meta.url)}; ` +
      "the package must ship its migrations/ folder (package.json \"files\")",
  );
}

/** Reads and checks the numbered migrations in dir: names NNNN_name.sql, numbered 1..N without gaps. */
export function loadMigrations(dir: string = defaultMigrationsDir()): Migration[] {
  const migrations: Migration[] = [];
  for (const file of readdirSync(dir).sort()) {
    if (!file.endsWith(".sql")) continue;
    const m = FILE_PATTERN.exec(file);
    if (!m) {
      throw new MigrationError(`migration file ${join(dir, file)}: name must look like 0002_add_thing.sql (4 digits, _, lowercase words)`);
    }
    migrations.push({ id: Number(m[1]), name: file.slice(0, -4), sql: readFileSync(join(dir, file), "utf8") });
  }
  migrations.forEach((mig, i) => {
    if (mig.id !== i + 1) {
      throw new MigrationError(`migrations in ${dir}: expected number ${i + 1} but found ${mig.name}; numbers must run 0001, 0002, … without gaps or duplicates`);
    }
  });
  if (migrations.length === 0) throw new MigrationError(`no migrations (*.sql) in ${dir}`);
  return migrations;
}

/** What a database has applied compared with the migrations this build knows. */
export interface MigrationStatus {
  /** Names of migrations recorded in the database, in order. */
  readonly applied: readonly string[];
  /** Migrations this build has that the database lacks. */
  readonly pending: readonly Migration[];
}

// The bookkeeping table is created outside the numbered files: it must exist before 0001 runs.
const CREATE_MIGRATIONS_TABLE = `
  CREATE TABLE IF NOT EXISTS migrations (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    applied_at INTEGER NOT NULL
  )`;

function recordedMigrations(db: Database): { id: number; name: string }[] {
  const exists = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'migrations'").get();
  if (!exists) return [];
  return db.prepare("SELECT id, name FROM migrations ORDER BY id").all() as { id: number; name: string }[];
}

/**
 * Compares the database's record with the known migrations. Throws DatabaseTooNewError when the
 * database records a migration this build lacks (a newer ferry wrote it: running old code on a
 * newer schema could corrupt it), and MigrationError when a recorded name differs from the file.
 */
export function migrationStatus(db: Database, migrations: readonly Migration[], file = db.name): MigrationStatus {
  const recorded = recordedMigrations(db);
  return { applied: recorded.map((r) => r.name), pending: pendingMigrations(recorded, migrations, `database ${file}`, "upgrade ferry, or point `database` in the config at another file") };
}

/**
 * The known migrations a database lacks, given what it records; one check for both drivers.
 * `what` names the database in messages, `upgrade` says what to do about a newer one.
 */
export function pendingMigrations(recorded: readonly { id: number; name: string }[], migrations: readonly Migration[], what: string, upgrade: string): Migration[] {
  const known = new Map(migrations.map((m) => [m.id, m]));
  for (const row of recorded) {
    const mine = known.get(row.id);
    if (!mine) {
      const newest = migrations[migrations.length - 1]?.name ?? "none";
      throw new DatabaseTooNewError(`${what} was written by a newer ferry: it records migration ${row.name}, but this ferry knows only up to ${newest}; ${upgrade}`);
    }
    if (mine.name !== row.name) {
      throw new MigrationError(
        `${what} records migration ${row.id} as ${row.name}, but this ferry has ${mine.name}; ` +
          "a migration file was renamed or the database comes from a diverged build",
      );
    }
  }
  const done = new Set(recorded.map((r) => r.id));
  return migrations.filter((m) => !done.has(m.id));
}

/** Options for migrate. */
export interface MigrateOptions {
  /** The migrations to apply; default: loadMigrations() from this ferry's migrations/ folder. */
  migrations?: readonly Migration[];
  /** Time source for applied_at; default Date.now. */
  now?: () => number;
}

/**
 * Applies pending migrations in order, each in its own IMMEDIATE transaction that first records
 * the migration's row, so a crash leaves either all of a migration or none of it. Another process
 * migrating at the same moment is serialised by the write lock and finds the work done.
 * Returns the names applied (empty when already current). Migration files must not contain BEGIN/COMMIT.
 */
export function migrate(db: Database, options: MigrateOptions = {}): string[] {
  const migrations = options.migrations ?? loadMigrations();
  const now = options.now ?? Date.now;
  db.exec(CREATE_MIGRATIONS_TABLE);
  const applied: string[] = [];
  for (const migration of migrationStatus(db, migrations).pending) {
    const apply = db.transaction(() => {
      // Re-check under the write lock: a concurrent process may have applied it meanwhile.
      if (db.prepare("SELECT 1 FROM migrations WHERE id = ?").get(migration.id)) return false;
      db.prepare("INSERT INTO migrations (id, name, applied_at) VALUES (?, ?, ?)").run(migration.id, migration.name, now());
      db.exec(migration.sql);
      return true;
    });
    try {
      if (apply.immediate()) applied.push(migration.name);
    } catch (err) {
      throw new MigrationError(`migration ${migration.name}: ${(err as Error).message}`, { cause: err });
    }
  }
  return applied;
}
