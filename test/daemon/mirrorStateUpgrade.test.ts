// One box on its SQLite queue keeps its mirrors' sync states in the queue's database too (issue
// 16), and a box upgraded from a version that kept them as files under its state folder imports
// each file once: against a LIST-only server (vsftpd: no MLSD, no HASH), where only the state
// tells that nothing changed, the first run after the upgrade sends nothing.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import Database from "better-sqlite3";
import { stateFileFor, SyncState, type StateRecord } from "../../src/sync/index.js";
import { runFerry } from "../helpers/cli.js";
import { inodes, pseudoRandomBytes, tempDir } from "../helpers/tmp.js";
import { requireServer, startVsftpd, VSFTPD_CANDIDATES } from "../helpers/vsftpd.js";
import { DaemonProcess, testConfig, waitUntil } from "./harness.js";

const FILES = 8;

test("SQLite box: the state is a row of the queue; a state file from before the upgrade is imported once and the next run sends nothing", { timeout: 120_000 }, async (t) => {
  const bin = requireServer(t, "vsftpd", "apt-get install vsftpd", VSFTPD_CANDIDATES);
  if (!bin) return;
  const server = await startVsftpd(bin);
  t.after(() => server.stop());
  const dir = await tempDir("ferry-state-upgrade-");
  t.after(() => dir.remove());
  const source = join(dir.path, "src");
  for (let i = 0; i < FILES; i++) {
    await mkdir(join(source, `d${i % 2}`), { recursive: true });
    await writeFile(join(source, `d${i % 2}`, `f${i}.bin`), pseudoRandomBytes(500 + i * 11, i + 1));
  }
  const target = join(server.home, "mirror");
  const config = join(dir.path, "ferry.json");
  await writeFile(config, testConfig({
    dir: dir.path, url: `ftp://${server.user}:${server.password}@127.0.0.1:${server.port}/`,
    jobs: [{ name: "m", kind: "mirror", source, target: `srv:${target}`, schedule: "0 0 1 1 *", catchUp: false }],
  }));
  const dbFile = join(dir.path, "var", "ferry.db");
  const stateDir = join(dir.path, "var", "state");
  const sql = <T>(fn: (db: Database.Database) => T): T => {
    const db = new Database(dbFile);
    try {
      return fn(db);
    } finally {
      db.close();
    }
  };
  const transfers = (): number => sql((db) => db.prepare("SELECT count(*) FROM transfers WHERE job_name = 'm'").pluck().get() as number);

  /** Starts the daemon, queues a run, waits until `runs` runs of the mirror are done, stops it; returns its log. */
  const run = async (runs: number): Promise<DaemonProcess> => {
    const daemon = new DaemonProcess(config);
    t.after(() => daemon.stop());
    await daemon.waitForLog("daemon ready", 60_000);
    const queued = await runFerry(["jobs", "run", "m", "--config", config], { timeoutMs: 60_000 });
    assert.equal(queued.code, 0, queued.stderr);
    await waitUntil(() => daemon.messages("mirror converged").length === 1, { timeoutMs: 60_000, what: `run ${runs} to converge`, onTimeout: () => daemon.stderr.slice(-3000), exited: daemon });
    assert.equal((await daemon.stop()).code, 0, daemon.stderr.slice(-2000));
    return daemon;
  };

  const first = await run(1);
  assert.deepEqual(first.messages("mirror converged").map((l) => l.transferred), [FILES]);
  assert.equal(transfers(), FILES);
  const saved = sql((db) => db.prepare("SELECT src, dst, entries, version FROM mirror_states").all() as { src: string; dst: string; entries: string; version: number }[]);
  assert.equal(saved.length, 1);
  const { src, dst } = saved[0]!;
  assert.equal(Object.keys(JSON.parse(saved[0]!.entries) as object).length, FILES);
  assert.ok(!existsSync(stateFileFor(stateDir, src, dst)), "no state file is written");
  const placed = await inodes(target);
  assert.equal(placed.size, FILES);

  // Make the box look as the version before this one left it: no row, the state in its file.
  const legacy = await SyncState.load(stateFileFor(stateDir, src, dst), src, dst);
  for (const [path, record] of Object.entries(JSON.parse(saved[0]!.entries) as Record<string, StateRecord>)) legacy.set(path, record);
  await legacy.save();
  sql((db) => db.prepare("DELETE FROM mirror_states").run());
  const fileBefore = await readFile(stateFileFor(stateDir, src, dst), "utf8");

  const second = await run(2);
  assert.deepEqual(second.messages("mirror converged").map((l) => [l.transferred, l.unchanged]), [[0, FILES]], second.stderr.slice(-2000));
  assert.deepEqual(second.messages("imported the mirror's sync state file into the queue's database; from now on the database copy is used and the file is left as it was").map((l) => [l.file, l.paths]),
    [[stateFileFor(stateDir, src, dst), FILES]]);
  assert.equal(transfers(), FILES, "nothing sent after the upgrade");
  assert.deepEqual(await inodes(target), placed);
  const row = sql((db) => db.prepare("SELECT imported_from, version FROM mirror_states").all() as { imported_from: string; version: number }[]);
  assert.deepEqual(row.map((r) => r.imported_from), [stateFileFor(stateDir, src, dst)]);
  assert.equal(await readFile(stateFileFor(stateDir, src, dst), "utf8"), fileBefore, "the file is left as it was");
});
