// The mirrors' sync states in the queue's database (issue 16), on both drivers: SQLite (a file,
// two connections, as a daemon and `ferry status`) and Postgres (two pools on one schema, as two
// nodes). A save replaces the row whole or, when another saver wrote in between, merges its own
// changes into it; a state file of an earlier version is imported once.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test, type TestContext } from "node:test";
import { DatabaseMirrorStateStore } from "../../src/daemon/jobs/mirrorRun/index.js";
import { openDatabase, SqliteQueue, type StoredMirrorState } from "../../src/queue/index.js";
import type { Queue } from "../../src/queue/Queue.js";
import { openPostgresQueue } from "../../src/queue/postgres/index.js";
import { stateFileFor, SyncState, type StateRecord } from "../../src/sync/index.js";
import { tempDir } from "../helpers/tmp.js";
import { drivers, type QueueTestDriver } from "../queue/drivers.js";
import { openTestPostgresQueue, queryTestPostgres } from "../queue/postgresDriver.js";

const SRC = "/data/photos";
const DST = "ftp://backup.example:21/photos";

/** Two handles on one queue database: two connections to a SQLite file, or two pools on one Postgres schema. */
async function openPair(t: TestContext, driver: QueueTestDriver): Promise<[Queue, Queue]> {
  if (driver.name === "postgres") {
    const a = await openTestPostgresQueue(t);
    // A test URL has no password, so `where` is the whole URL, search_path included.
    const b = await openPostgresQueue({ url: a.where });
    t.after(() => b.close());
    return [a, b];
  }
  const dir = await tempDir("ferry-state-store-");
  const file = join(dir.path, "queue.db");
  const a = new SqliteQueue(openDatabase(file));
  const b = new SqliteQueue(openDatabase(file));
  t.after(async () => {
    await a.close();
    await b.close();
    await dir.remove();
  });
  return [a, b];
}

/** Runs one statement on the queue's database from outside the store (an operator, a damaged disk). */
async function rawSql(queue: Queue, sqliteSql: string, pgSql: string): Promise<void> {
  if (queue instanceof SqliteQueue) queue.database.prepare(sqliteSql).run();
  else await queryTestPostgres(queue, pgSql);
}

const rec = (size: number, srcStamp: string, hash?: string): StateRecord => ({ size, srcStamp, ...(hash ? { hash: { algorithm: "SHA-256" as const, value: hash } } : {}) });

function entriesOf(state: SyncState): Record<string, StateRecord> {
  return Object.fromEntries([...state.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

async function row(queue: Queue, src = SRC, dst = DST): Promise<StoredMirrorState> {
  const r = await queue.mirrorStates.read(src, dst);
  assert.ok(r, `a row for ${src} → ${dst}`);
  return r;
}

for (const driver of drivers) describe(`mirror sync states over ${driver.name}`, () => {
  test("round trip: what one handle saves, another loads; each save is one version; mirrors are apart", async (t) => {
    const [a, b] = await openPair(t, driver);
    const storeA = new DatabaseMirrorStateStore(a.mirrorStates);
    const storeB = new DatabaseMirrorStateStore(b.mirrorStates);
    const first = await storeA.load(SRC, DST);
    assert.equal(first.size, 0);
    assert.equal(await a.mirrorStates.read(SRC, DST), undefined, "loading creates nothing");
    first.set("a/b.txt", rec(3, "Jan  2 10:00"));
    first.set("ünïcode/ä b.jpg", rec(0, "1767225600000", "ab".repeat(32)));
    first.set("__proto__", rec(7, "Feb  1  2025"));
    await storeA.save(SRC, DST, first);
    assert.deepEqual({ version: (await row(b)).version, paths: (await row(b)).paths }, { version: 1, paths: 3 });
    assert.deepEqual(entriesOf(await storeB.load(SRC, DST)), {
      ["__proto__"]: rec(7, "Feb  1  2025"), "a/b.txt": rec(3, "Jan  2 10:00"), "ünïcode/ä b.jpg": rec(0, "1767225600000", "ab".repeat(32)),
    });

    first.delete("__proto__");
    first.set("a/b.txt", rec(4, "Jan  3 10:00"));
    await storeA.save(SRC, DST, first);
    await storeA.save(SRC, DST, first); // unchanged: no write
    assert.equal((await row(b)).version, 2);
    assert.deepEqual(entriesOf(await storeB.load(SRC, DST)), { "a/b.txt": rec(4, "Jan  3 10:00"), "ünïcode/ä b.jpg": rec(0, "1767225600000", "ab".repeat(32)) });
    assert.equal((await storeB.load(SRC, `${DST}/other`)).size, 0, "another destination is another mirror");
    assert.equal((await storeB.load(DST, SRC)).size, 0, "the reverse direction is another mirror");
  });

  test("atomic replace: a reader sees the old state or the new one, never a mix", async (t) => {
    const [a, b] = await openPair(t, driver);
    const storeA = new DatabaseMirrorStateStore(a.mirrorStates);
    const storeB = new DatabaseMirrorStateStore(b.mirrorStates);
    const state = await storeA.load(SRC, DST);
    for (let i = 0; i < 20_000; i++) state.set(`d${i % 100}/f${i}.bin`, rec(i, "old"));
    await storeA.save(SRC, DST, state);
    for (let i = 0; i < 20_000; i++) {
      if (i % 4 === 0) state.delete(`d${i % 100}/f${i}.bin`);
      else state.set(`d${i % 100}/f${i}.bin`, rec(i + 1, "new"));
    }
    let settled = false;
    const saving = storeA.save(SRC, DST, state).finally(() => (settled = true));
    const seen: string[] = [];
    do {
      const read = await storeB.load(SRC, DST);
      const stamps = new Set([...read.entries()].map(([, r]) => r.srcStamp));
      seen.push(`${read.size}:${[...stamps].join(",")}`);
    } while (!settled);
    await saving;
    seen.push(`${(await storeB.load(SRC, DST)).size}:${[...new Set([...(await storeB.load(SRC, DST)).entries()].map(([, r]) => r.srcStamp))].join(",")}`);
    for (const s of seen) assert.ok(s === "20000:old" || s === "15000:new", `a load saw ${s}`);
    assert.equal(seen.at(-1), "15000:new");
  });

  test("a save after another's merges: neither saver's records are lost, the later wins a path both changed", async (t) => {
    const [a, b] = await openPair(t, driver);
    const storeA = new DatabaseMirrorStateStore(a.mirrorStates);
    const storeB = new DatabaseMirrorStateStore(b.mirrorStates);
    const seed = await storeA.load(SRC, DST);
    for (const p of ["keep", "both", "goneA", "goneB"]) seed.set(p, rec(1, "seed"));
    await storeA.save(SRC, DST, seed);

    // Two runs loaded the same version (a finish whose lease expired and the one that took it over).
    const runA = await storeA.load(SRC, DST);
    const runB = await storeB.load(SRC, DST);
    runA.set("onlyA", rec(2, "A"));
    runA.set("both", rec(2, "A"));
    runA.delete("goneA");
    await storeA.save(SRC, DST, runA);
    runB.set("onlyB", rec(3, "B"));
    runB.set("both", rec(3, "B"));
    runB.delete("goneB");
    await storeB.save(SRC, DST, runB);
    const expected = { both: rec(3, "B"), keep: rec(1, "seed"), onlyA: rec(2, "A"), onlyB: rec(3, "B") };
    assert.deepEqual(entriesOf(await storeA.load(SRC, DST)), expected);
    assert.equal((await row(a)).version, 3);

    // Both go on saving: each keeps merging, so neither overwrites the other's records later.
    runB.set("laterB", rec(4, "B"));
    await storeB.save(SRC, DST, runB);
    runA.set("laterA", rec(5, "A"));
    await storeA.save(SRC, DST, runA);
    assert.deepEqual(entriesOf(await storeB.load(SRC, DST)), { ...expected, laterA: rec(5, "A"), laterB: rec(4, "B") });
    assert.equal((await row(b)).version, 5);
  });

  test("savers at the same moment on two handles: every one's record is kept, one version each", async (t) => {
    const [a, b] = await openPair(t, driver);
    const stores = [new DatabaseMirrorStateStore(a.mirrorStates), new DatabaseMirrorStateStore(b.mirrorStates)];
    const seed = await stores[0]!.load(SRC, DST);
    seed.set("seed", rec(1, "seed"));
    await stores[0]!.save(SRC, DST, seed);
    const runs = await Promise.all(Array.from({ length: 8 }, (_, i) => stores[i % 2]!.load(SRC, DST)));
    runs.forEach((run, i) => run.set(`run${i}`, rec(i, `run${i}`)));
    await Promise.all(runs.map((run, i) => stores[i % 2]!.save(SRC, DST, run)));
    const final = await stores[1]!.load(SRC, DST);
    assert.deepEqual(Object.keys(entriesOf(final)), ["run0", "run1", "run2", "run3", "run4", "run5", "run6", "run7", "seed"]);
    assert.equal((await row(a)).version, 9);
  });

  test("first saves of a new mirror on two handles at once: one row, both records", async (t) => {
    const [a, b] = await openPair(t, driver);
    const [x, y] = [new DatabaseMirrorStateStore(a.mirrorStates), new DatabaseMirrorStateStore(b.mirrorStates)];
    const [sx, sy] = await Promise.all([x.load(SRC, DST), y.load(SRC, DST)]);
    sx.set("x", rec(1, "x"));
    sy.set("y", rec(2, "y"));
    await Promise.all([x.save(SRC, DST, sx), y.save(SRC, DST, sy)]);
    assert.deepEqual(entriesOf(await x.load(SRC, DST)), { x: rec(1, "x"), y: rec(2, "y") });
    assert.equal((await row(a)).version, 2);
  });

  test("a state file of an earlier version is imported once; then the database copy is the state and the file is left alone", async (t) => {
    const [a, b] = await openPair(t, driver);
    const legacy = await tempDir("ferry-legacy-state-");
    t.after(() => legacy.remove());
    const file = stateFileFor(legacy.path, SRC, DST);
    const old = await SyncState.load(file, SRC, DST);
    old.set("a.txt", rec(10, "Jan  1  2025"));
    old.set("sub/b.txt", rec(20, "Jan  2  2025", "cd".repeat(32)));
    await old.save();

    // Two nodes start using the store at once: one imports, both see the same state.
    const [storeA, storeB] = [new DatabaseMirrorStateStore(a.mirrorStates, { legacyDir: legacy.path }), new DatabaseMirrorStateStore(b.mirrorStates, { legacyDir: legacy.path })];
    const [fromA, fromB] = await Promise.all([storeA.load(SRC, DST), storeB.load(SRC, DST)]);
    const imported = { "a.txt": rec(10, "Jan  1  2025"), "sub/b.txt": rec(20, "Jan  2  2025", "cd".repeat(32)) };
    assert.deepEqual(entriesOf(fromA), imported);
    assert.deepEqual(entriesOf(fromB), imported);
    assert.deepEqual([(await row(a)).version, (await row(a)).importedFrom, (await row(a)).paths], [1, file, 2]);

    fromA.set("c.txt", rec(30, "Jan  3  2025"));
    await storeA.save(SRC, DST, fromA);
    const fileBytes = await readFile(file, "utf8");
    // Someone (the one-shot CLI) writes the file again: the daemon no longer reads it.
    old.set("stale.txt", rec(1, "x"));
    await old.save();
    assert.notEqual(await readFile(file, "utf8"), fileBytes);
    assert.deepEqual(entriesOf(await new DatabaseMirrorStateStore(b.mirrorStates, { legacyDir: legacy.path }).load(SRC, DST)), { ...imported, "c.txt": rec(30, "Jan  3  2025") });
    assert.equal((await row(a)).version, 2);
    assert.ok(!(await readFile(file, "utf8")).includes("c.txt"), "saves go to the database, not to the file");
  });

  test("no state file: nothing is imported and no row is made until a save", async (t) => {
    const [a] = await openPair(t, driver);
    const legacy = await tempDir("ferry-legacy-state-");
    t.after(() => legacy.remove());
    const store = new DatabaseMirrorStateStore(a.mirrorStates, { legacyDir: legacy.path });
    assert.equal((await store.load(SRC, DST)).size, 0);
    assert.equal(await a.mirrorStates.read(SRC, DST), undefined);
  });

  test("a damaged row loads as an empty state, and the next save replaces it", async (t) => {
    const [a, b] = await openPair(t, driver);
    const store = new DatabaseMirrorStateStore(a.mirrorStates);
    const state = await store.load(SRC, DST);
    state.set("a", rec(1, "a"));
    await store.save(SRC, DST, state);
    await rawSql(b, "UPDATE mirror_states SET entries = 'not json{'", "UPDATE mirror_states SET entries = 'not json{'");
    const again = await store.load(SRC, DST);
    assert.equal(again.size, 0);
    again.set("b", rec(2, "b"));
    await store.save(SRC, DST, again);
    assert.deepEqual(entriesOf(await store.load(SRC, DST)), { b: rec(2, "b") });
  });

  test("saving a state this store did not load is refused", async (t) => {
    const [a, b] = await openPair(t, driver);
    const store = new DatabaseMirrorStateStore(a.mirrorStates);
    const other = await new DatabaseMirrorStateStore(b.mirrorStates).load(SRC, DST);
    await assert.rejects(store.save(SRC, DST, other), /internal: the sync state of .* was not loaded from this database store/);
    const mine = await store.load(SRC, DST);
    await assert.rejects(store.save(SRC, `${DST}/x`, mine), /was not loaded from this database store/);
  });
});
