import { test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import {
  DatabaseTooNewError,
  defaultMigrationsDir,
  loadMigrations,
  migrate,
  MigrationError,
  openDatabase,
} from "../../src/queue/index.js";
import { tempDir } from "../helpers/tmp.js";

test("a fresh database gets every migration, recorded in order", () => {
  const db = openDatabase(":memory:", { now: () => 42 });
  const rows = db.prepare("SELECT id, name, applied_at FROM migrations ORDER BY id").all();
  const expected = loadMigrations().map((m) => ({ id: m.id, name: m.name, applied_at: 42 }));
  assert.deepEqual(rows, expected);
  assert.equal((rows[0] as { name: string }).name, "0001_init");
  const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").pluck().all();
  assert.deepEqual(tables, ["hook_deliveries", "jobs", "migrations", "mirror_states", "paused_jobs", "transfers"]);
  db.close();
});

test("migrating again is a no-op, also across reopen of a file", async (t) => {
  const dir = await tempDir();
  t.after(dir.remove);
  const file = join(dir.path, "nested", "ferry.db");
  openDatabase(file).close();
  const db = openDatabase(file);
  assert.deepEqual(migrate(db), []);
  assert.equal(db.prepare("SELECT count(*) FROM migrations").pluck().get(), loadMigrations().length);
  db.close();
});

test("a file database gets WAL, busy_timeout, foreign_keys and synchronous=NORMAL", async (t) => {
  const dir = await tempDir();
  t.after(dir.remove);
  const db = openDatabase(join(dir.path, "f.db"), { busyTimeoutMs: 1234 });
  assert.equal(db.pragma("journal_mode", { simple: true }), "wal");
  assert.equal(db.pragma("busy_timeout", { simple: true }), 1234);
  assert.equal(db.pragma("foreign_keys", { simple: true }), 1);
  assert.equal(db.pragma("synchronous", { simple: true }), 1); // 1 = NORMAL
  db.close();
});

test("a database from a newer ferry is refused with a clear error, and left untouched", async (t) => {
  const dir = await tempDir();
  t.after(dir.remove);
  const file = join(dir.path, "f.db");
  openDatabase(file).close();
  const raw = new BetterSqlite3(file);
  raw.prepare("INSERT INTO migrations (id, name, applied_at) VALUES (999, '0999_from_the_future', 1)").run();
  raw.close();
  assert.throws(
    () => openDatabase(file),
    (err: unknown) =>
      err instanceof DatabaseTooNewError &&
      /written by a newer ferry/.test(err.message) &&
      err.message.includes("0999_from_the_future") &&
      err.message.includes(loadMigrations().at(-1)!.name) &&
      /upgrade ferry/.test(err.message),
  );
  assert.throws(() => openDatabase(file, { readonly: true }), DatabaseTooNewError);
  const check = new BetterSqlite3(file);
  assert.equal(check.prepare("SELECT count(*) FROM migrations").pluck().get(), loadMigrations().length + 1);
  check.close();
});

test("a recorded migration whose file was renamed is refused", () => {
  const db = openDatabase(":memory:");
  db.prepare("UPDATE migrations SET name = '0001_original' WHERE id = 1").run();
  assert.throws(() => migrate(db), (err: unknown) => err instanceof MigrationError && /records migration 1 as 0001_original, but this ferry has 0001_init/.test(err.message));
  db.close();
});

test("migrations apply in order, each recorded; a failing one rolls back completely", async (t) => {
  const dir = await tempDir();
  t.after(dir.remove);
  const migDir = join(dir.path, "migrations");
  mkdirSync(migDir);
  copyFileSync(join(defaultMigrationsDir(), "0001_init.sql"), join(migDir, "0001_init.sql"));
  writeFileSync(join(migDir, "0002_add_note.sql"), "ALTER TABLE jobs ADD COLUMN note TEXT;");
  writeFileSync(join(migDir, "0003_broken.sql"), "CREATE TABLE half (x INTEGER);\nTHIS IS NOT SQL;");
  const file = join(dir.path, "f.db");
  assert.throws(() => openDatabase(file, { migrationsDir: migDir }), (err: unknown) => err instanceof MigrationError && /^migration 0003_broken: /.test(err.message));
  const raw = new BetterSqlite3(file);
  assert.deepEqual(raw.prepare("SELECT name FROM migrations ORDER BY id").pluck().all(), ["0001_init", "0002_add_note"]);
  assert.equal(raw.prepare("SELECT count(*) FROM sqlite_master WHERE name = 'half'").pluck().get(), 0, "0003's first statement rolled back");
  raw.close();
  writeFileSync(join(migDir, "0003_broken.sql"), "CREATE TABLE half (x INTEGER);");
  const db = openDatabase(file, { migrationsDir: migDir });
  assert.deepEqual(db.prepare("SELECT name FROM migrations ORDER BY id").pluck().all(), ["0001_init", "0002_add_note", "0003_broken"]);
  db.close();
});

test("bad migration folders are refused with the fix named", async (t) => {
  const dir = await tempDir();
  t.after(dir.remove);
  const rows: { title: string; files: Record<string, string>; message: RegExp }[] = [
    { title: "gap", files: { "0001_a.sql": "", "0003_c.sql": "" }, message: /expected number 2 but found 0003_c/ },
    { title: "duplicate number", files: { "0001_a.sql": "", "0001_b.sql": "" }, message: /expected number 2 but found 0001_b/ },
    { title: "bad name", files: { "0001_a.sql": "", "2_b.sql": "" }, message: /name must look like 0002_add_thing\.sql/ },
    { title: "empty", files: { "README.md": "" }, message: /no migrations/ },
  ];
  for (const [i, row] of rows.entries()) {
    const d = join(dir.path, String(i));
    mkdirSync(d);
    for (const [name, sql] of Object.entries(row.files)) writeFileSync(join(d, name), sql);
    assert.throws(() => loadMigrations(d), (err: unknown) => err instanceof MigrationError && row.message.test(err.message), row.title);
  }
});

test("read-only open: refuses a missing file without creating it, reads a current one", async (t) => {
  const dir = await tempDir();
  t.after(dir.remove);
  const missing = join(dir.path, "none", "f.db");
  assert.throws(() => openDatabase(missing, { readonly: true }), /open database .*f\.db: .*created by the first `ferry daemon` run/);
  assert.equal(existsSync(join(dir.path, "none")), false);
  const file = join(dir.path, "f.db");
  const writer = openDatabase(file);
  const reader = openDatabase(file, { readonly: true });
  assert.equal(reader.prepare("SELECT count(*) FROM jobs").pluck().get(), 0);
  assert.throws(() => reader.prepare("DELETE FROM jobs").run(), /readonly/);
  reader.close();
  writer.close();
});

test("read-only open of an older schema says to run the daemon once", async (t) => {
  const dir = await tempDir();
  t.after(dir.remove);
  const migDir = join(dir.path, "m");
  mkdirSync(migDir);
  copyFileSync(join(defaultMigrationsDir(), "0001_init.sql"), join(migDir, "0001_init.sql"));
  const file = join(dir.path, "f.db");
  openDatabase(file, { migrationsDir: migDir }).close();
  writeFileSync(join(migDir, "0002_more.sql"), "CREATE TABLE more (x INTEGER);");
  assert.throws(() => openDatabase(file, { readonly: true, migrationsDir: migDir }), /schema is older than this ferry \(missing 0002_more\); start `ferry daemon` once/);
});

test("two connections migrating the same new file: each migration applied once", async (t) => {
  const dir = await tempDir();
  t.after(dir.remove);
  const file = join(dir.path, "f.db");
  const a = new BetterSqlite3(file);
  const b = new BetterSqlite3(file);
  a.pragma("busy_timeout = 5000");
  b.pragma("busy_timeout = 5000");
  const applied = [...migrate(a), ...migrate(b)];
  assert.deepEqual(applied, loadMigrations().map((m) => m.name));
  a.close();
  b.close();
});
