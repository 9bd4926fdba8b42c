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
