// Cases that need SQL beside the Queue API (a row as an older ferry wrote it): SQLite only.
// The shared cases are in the driver suites (drivers.ts).
import { test } from "node:test";
import assert from "node:assert/strict";
import { silentLogger } from "../../src/log/index.js";
import { openDatabase, SqliteQueue, WorkerRunner, type RunnerEventMap } from "../../src/queue/index.js";
import { ManualClock, until, upload } from "./helpers.js";

test("a payload that fails validation at lease is reported as job:dead and the worker moves on", async (t) => {
  const store = new SqliteQueue(openDatabase(":memory:"), { rng: () => 0.5 });
  t.after(() => store.close());
  const bad = (await store.enqueue({ kind: "upload", payload: upload("/o/bad") })).job;
  const good = (await store.enqueue({ kind: "upload", payload: upload("/o/good") })).job;
  store.database.prepare("UPDATE jobs SET payload = json_remove(payload, '$.size') WHERE id = ?").run(bad.id);
  const ran: number[] = [];
  const runner = new WorkerRunner(store, { pollIntervalMs: 5, logger: silentLogger(), clock: new ManualClock(), handlers: { upload: async (job) => void ran.push(job.id) } });
  const dead: RunnerEventMap["job:dead"][] = [];
  runner.on("job:dead", (e) => dead.push(e));
  runner.start();
  t.after(() => runner.stop(0));
  await until(async () => ran.length === 1 && (await store.getJob(good.id))?.state === "done", "good job ran");
  assert.equal(dead[0]?.job.id, bad.id);
  assert.match(String(dead[0]?.job.lastError), /^invalid payload: upload payload: size: /);
  assert.deepEqual(ran, [good.id]);
});

test("lease validates the payload again: a bad one goes dead with the zod message, the next job is leasable", async (t) => {
  const store = new SqliteQueue(openDatabase(":memory:"), { rng: () => 0.5 });
  t.after(() => store.close());
  const db = store.database;
  const bad = await store.enqueue({ kind: "upload", payload: upload("/out/a") });
  const good = await store.enqueue({ kind: "upload", payload: upload("/out/b") });
  // As if written by an older ferry whose schema allowed it.
  db.prepare("UPDATE jobs SET payload = json_set(payload, '$.path', 'relative/a') WHERE id = ?").run(bad.job.id);
  const first = await store.lease({ workerId: "w" });
  assert.ok(first && first.status === "rejected");
  assert.equal(first.job.id, bad.job.id);
  assert.equal(first.job.state, "dead");
  assert.equal(first.job.lastError, "invalid payload: upload payload: path: must be an absolute local path");
  assert.equal(first.job.leaseToken, null);
  assert.ok(first.job.finishedAt !== null);
  const second = await store.lease({ workerId: "w" });
  assert.ok(second?.status === "leased");
  assert.equal(second.job.id, good.job.id);
});
