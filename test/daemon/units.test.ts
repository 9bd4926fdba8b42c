import assert from "node:assert/strict";
import { appendFile, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, it } from "node:test";
import { createIgnoreTest, nextFire, OutboxWatcher, previousFire, Scheduler, type MirrorJob, type StableFile, type UploadJob } from "../../src/daemon/index.js";
import { silentLogger } from "../../src/log/index.js";
import { JobStore, openDatabase, SqliteQueue } from "../../src/queue/index.js";
import { tempDir } from "../helpers/tmp.js";
import { waitUntil } from "./harness.js";

describe("outbox ignore rules", () => {
  const rows: { path: string; extra?: string[]; ignored: boolean }[] = [
    { path: "report.csv", ignored: false },
    { path: ".hidden", ignored: true },
    { path: "sub/.hidden/x.csv", ignored: true },
    { path: "a.tmp", ignored: true },
    { path: "a.TMP.csv", ignored: false },
    { path: "download.crdownload", ignored: true },
    { path: "notes.txt~", ignored: true },
    { path: ".notes.txt.swp", ignored: true },
    { path: "big.iso.part", ignored: true },
    { path: "x.partial", ignored: true },
    { path: "x.lock", extra: ["*.lock"], ignored: true },
    { path: "keep/x.lock", extra: ["keep/**"], ignored: true },
    { path: "other/x.csv", extra: ["keep/**"], ignored: false },
    { path: "", ignored: false },
  ];
  for (const r of rows) {
    it(`${JSON.stringify(r.path)}${r.extra ? ` with ${r.extra.join(",")}` : ""} → ${r.ignored ? "ignored" : "uploaded"}`, () => {
      assert.equal(createIgnoreTest(r.extra ?? [])(r.path), r.ignored);
    });
  }
});

describe("cron times (local time)", () => {
  const at = (y: number, mo: number, d: number, h = 0, mi = 0, s = 0) => new Date(y, mo - 1, d, h, mi, s);
  const rows: { expr: string; after: Date; next: Date }[] = [
    { expr: "*/10 * * * *", after: at(2026, 1, 5, 10, 3), next: at(2026, 1, 5, 10, 10) },
    { expr: "*/10 * * * *", after: at(2026, 1, 5, 10, 10), next: at(2026, 1, 5, 10, 20) },
    { expr: "0 0 * * *", after: at(2026, 1, 5, 10), next: at(2026, 1, 6) },
    { expr: "30 9 * * 1-5", after: at(2026, 1, 9, 10), next: at(2026, 1, 12, 9, 30) }, // Friday → Monday
    { expr: "*/2 * * * * *", after: at(2026, 1, 5, 10, 0, 1), next: at(2026, 1, 5, 10, 0, 2) },
    { expr: "0 12 1 * *", after: at(2026, 1, 31), next: at(2026, 2, 1, 12) },
    { expr: "0 0 L * *", after: at(2026, 2, 3), next: at(2026, 2, 28) },
  ];
  for (const r of rows) {
    it(`${r.expr} after ${r.after.toString().slice(0, 24)}`, () => {
      assert.equal(nextFire(r.expr, r.after)?.getTime(), r.next.getTime());
      // The fire just found is the last one at or before it, and none lies between `after` and it.
      assert.equal(previousFire(r.expr, r.next, r.after)?.getTime(), r.next.getTime());
      assert.equal(previousFire(r.expr, new Date(r.next.getTime() - 1), r.after), undefined);
    });
  }
});

describe("scheduler with the real JobStore", () => {
  const mirror: MirrorJob = {
    kind: "mirror", name: "photos", remote: "backup", remoteRoot: "/photos", localRoot: "/data/photos", direction: "upload",
    schedule: "*/10 * * * *", catchUp: true, delete: false, checksum: false, include: [], exclude: [], parallel: 4,
  };

  it("a tick while the mirror is queued or running coalesces; after it finished, a tick queues a new run", async () => {
    const db = openDatabase(":memory:");
    const store = new JobStore(db);
    let woken = 0;
    const s = new Scheduler({ store: new SqliteQueue(db), jobs: [mirror], logger: silentLogger(), onEnqueued: () => woken++ });
    assert.equal(await s.enqueue(mirror, "tick 1"), true);
    assert.equal(await s.enqueue(mirror, "tick 2"), false, "queued: coalesced");
    const lease = store.lease({ workerId: "w" });
    assert.equal(lease?.status, "leased");
    assert.equal(await s.enqueue(mirror, "tick 3"), false, "running: coalesced");
    if (lease?.status === "leased") store.complete(lease.job);
    assert.equal(await s.enqueue(mirror, "tick 4"), true);
    assert.equal(woken, 2);
    assert.equal(store.listJobs({ name: "photos" }).length, 2);
    db.close();
  });

  it("catch-up: a mirror that never ran, or whose run was missed while down, runs once at start", async () => {
    const db = openDatabase(":memory:");
    let now = new Date(2026, 0, 5, 10, 3).getTime();
    const s = new Scheduler({ store: new SqliteQueue(db, { clock: { now: () => now } }), jobs: [mirror], logger: silentLogger(), onEnqueued: () => {}, now: () => now });
    assert.match((await s.missedRun(mirror)) ?? "", /never ran/);
    await s.enqueue(mirror, "first");
    now = new Date(2026, 0, 5, 10, 9).getTime(); // no scheduled time (10:10) passed since
    assert.equal(await s.missedRun(mirror), undefined);
    now = new Date(2026, 0, 5, 12, 0).getTime(); // down over 10:10 … 11:50
    assert.match((await s.missedRun(mirror)) ?? "", /missed/);
    assert.equal(await s.missedRun({ ...mirror, catchUp: false }), undefined);
    db.close();
  });
});

describe("outbox watcher stability (in-process)", () => {
  const job = (watch: string, extra: Partial<UploadJob> = {}): UploadJob => ({
    kind: "upload", name: "o", remote: "r", remoteDir: "/in", watch, stableMs: 250, ignore: [], recursive: false, after: { kind: "keep" }, ...extra,
  });

  it("reports files present at start and new ones once each, after the window; ignores temporary and hidden names", async () => {
    const dir = await tempDir("ferry-watch-");
    try {
      await writeFile(join(dir.path, "early.txt"), "was here first");
      await writeFile(join(dir.path, ".hidden"), "x");
      const seen: StableFile[] = [];
      const w = new OutboxWatcher({ job: job(dir.path), logger: silentLogger(), onStable: (f) => seen.push(f) });
      await w.start();
      const path = join(dir.path, "growing.log");
      for (let i = 0; i < 6; i++) {
        await appendFile(path, "line\n");
        await sleep(30);
      }
      await writeFile(join(dir.path, "x.tmp"), "temp");
      await waitUntil(() => seen.length >= 2, { timeoutMs: 5000, what: "two stable files" });
      await sleep(400); // nothing more may come
      await w.close();
      assert.deepEqual(seen.map((f) => f.path).sort(), [join(dir.path, "early.txt"), path].sort());
      assert.equal(seen.find((f) => f.path === path)?.size, 30, "reported in its final form");
    } finally {
      await dir.remove();
    }
  });

  it("with a marker, a stable file waits for NAME.done", async () => {
    const dir = await tempDir("ferry-watch-");
    try {
      const seen: StableFile[] = [];
      const w = new OutboxWatcher({ job: job(dir.path, { marker: ".done", stableMs: 50 }), logger: silentLogger(), onStable: (f) => seen.push(f) });
      await w.start();
      await writeFile(join(dir.path, "data.csv"), "a,b\n");
      await sleep(300);
      assert.equal(seen.length, 0, "no marker yet");
      await writeFile(join(dir.path, "data.csv.done"), "");
      await waitUntil(() => seen.length === 1, { timeoutMs: 5000, what: "the marked file" });
      await sleep(200);
      await w.close();
      assert.deepEqual(seen.map((f) => f.path), [join(dir.path, "data.csv")]);
    } finally {
      await dir.remove();
    }
  });

  // A watcher that reports the initial scan as done and then hears nothing: every later event
  // is "missed", as chokidar can miss a name deleted and written again at once.
  type Watch = Pick<import("chokidar").FSWatcher, "on" | "once" | "close">;
  const deaf = (): Watch => {
    const w = { on: () => w, once: (event: string, fn: () => void) => { if (event === "ready") queueMicrotask(fn); return w; }, close: async () => undefined };
    return w as unknown as Watch;
  };

  it("a file whose event never came is found by the rescan, once per version (as the outbox's own safety net)", async () => {
    const dir = await tempDir("ferry-watch-");
    try {
      const seen: StableFile[] = [];
      const w = new OutboxWatcher({ job: job(dir.path, { stableMs: 20, rescanMs: 0 }), logger: silentLogger(), onStable: (f) => seen.push(f), watch: deaf });
      await w.start();
      await writeFile(join(dir.path, "missed.csv"), "a,b\n");
      await writeFile(join(dir.path, "x.tmp"), "temp");
      assert.equal(await w.rescan(), 1, "the rescan finds the one file nobody reported (not the temporary one)");
      await waitUntil(() => seen.length === 1, { timeoutMs: 5000, what: "the missed file, through the stability check" });
      assert.deepEqual(seen.map((f) => f.path), [join(dir.path, "missed.csv")]);
      assert.equal(await w.rescan(), 0, "a reported file is not reported again while unchanged");
      await appendFile(join(dir.path, "missed.csv"), "c,d\n");
      assert.equal(await w.rescan(), 1, "a changed file is reported again");
      await waitUntil(() => seen.length === 2, { timeoutMs: 5000, what: "the changed file" });
      assert.equal(seen[1]!.size, 8);
      await w.close();
    } finally {
      await dir.remove();
    }
  });

  it("the rescan runs by itself every rescanMs", async () => {
    const dir = await tempDir("ferry-watch-");
    try {
      const seen: StableFile[] = [];
      const w = new OutboxWatcher({ job: job(dir.path, { stableMs: 20, rescanMs: 50 }), logger: silentLogger(), onStable: (f) => seen.push(f), watch: deaf });
      await w.start();
      await writeFile(join(dir.path, "late.csv"), "x");
      await waitUntil(() => seen.length === 1, { timeoutMs: 5000, what: "the file, found by the periodic rescan" });
      await w.close();
      assert.equal(seen[0]!.path, join(dir.path, "late.csv"));
    } finally {
      await dir.remove();
    }
  });

  it("recursive watches subfolders; non-recursive does not", async () => {
    const dir = await tempDir("ferry-watch-");
    try {
      await mkdir(join(dir.path, "a", "b"), { recursive: true });
      await writeFile(join(dir.path, "a", "b", "deep.txt"), "deep");
      await writeFile(join(dir.path, "top.txt"), "top");
      for (const recursive of [false, true]) {
        const seen: StableFile[] = [];
        const w = new OutboxWatcher({ job: job(dir.path, { recursive, stableMs: 20 }), logger: silentLogger(), onStable: (f) => seen.push(f) });
        await w.start();
        await waitUntil(() => seen.length >= (recursive ? 2 : 1), { timeoutMs: 5000, what: "files" });
        await sleep(150);
        await w.close();
        assert.equal(seen.length, recursive ? 2 : 1, `recursive=${recursive}`);
      }
    } finally {
      await dir.remove();
    }
  });
});
