import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { JobStore, openDatabase } from "../../src/queue/index.js";
import { tempDir } from "../helpers/tmp.js";
import { spawnFixture } from "./processes.js";
import { upload } from "./helpers.js";

test("two stores on one file, interleaved: a job leased by one is never leased by the other", async (t) => {
  const dir = await tempDir();
  t.after(dir.remove);
  const file = join(dir.path, "q.db");
  const a = new JobStore(openDatabase(file));
  const b = new JobStore(openDatabase(file));
  for (let i = 0; i < 20; i++) a.enqueue({ kind: "upload", payload: upload(`/o/${i}`) });
  const seen: number[] = [];
  for (let i = 0; i < 20; i++) {
    const r = (i % 2 ? a : b).lease({ workerId: i % 2 ? "a" : "b" });
    assert.ok(r?.status === "leased");
    seen.push(r.job.id);
  }
  assert.equal(a.lease({ workerId: "a" }), null);
  assert.equal(b.lease({ workerId: "b" }), null);
  assert.equal(new Set(seen).size, 20);
});

test("three processes leasing from one file at once: each job completed exactly once", async (t) => {
  const dir = await tempDir();
  t.after(dir.remove);
  const file = join(dir.path, "q.db");
  const store = new JobStore(openDatabase(file));
  const total = 600;
  for (let i = 0; i < total; i++) store.enqueue({ kind: "upload", payload: upload(`/o/${i}`), dedupeKey: `k${i}` });
  const workers = ["p1", "p2", "p3"].map((id) => spawnFixture("leaseLoop.ts", [file, id]));
  t.after(() => workers.forEach((w) => w.child.kill("SIGKILL")));
  for (const w of workers) assert.equal(await w.nextLine(), "ready");
  for (const w of workers) w.child.stdin.write("go\n");
  const results = await Promise.all(workers.map(async (w) => JSON.parse(await w.nextLine()) as number[]));
  for (const w of workers) assert.equal((await w.exited).code, 0);
  const all = results.flat();
  t.diagnostic(`completed per process: ${results.map((r) => r.length).join(", ")}`);
  assert.equal(all.length, total, "every job completed once in all");
  assert.equal(new Set(all).size, total, "no job completed twice");
  assert.ok(results.filter((r) => r.length > 0).length >= 2, "at least two processes took part (real contention)");
  const db = openDatabase(file);
  assert.deepEqual(db.prepare("SELECT state, count(*) AS n FROM jobs GROUP BY state").all(), [{ state: "done", n: total }]);
  assert.equal(db.prepare("SELECT count(*) FROM transfers").pluck().get(), total);
});
