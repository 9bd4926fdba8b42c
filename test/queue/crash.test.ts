import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { JobStore, openDatabase } from "../../src/queue/index.js";
import { pseudoRandomBytes, tempDir } from "../helpers/tmp.js";
import { spawnFixture } from "./processes.js";

const JOBS = 150;
const ROUNDS = 20;

test("SIGKILL a worker process at random moments; after restart every job is done exactly once", async (t) => {
  const dir = await tempDir();
  t.after(dir.remove);
  const file = join(dir.path, "q.db");
  const starts = join(dir.path, "starts.log");
  const store = new JobStore(openDatabase(file));
  for (let i = 0; i < JOBS; i++) {
    store.enqueue({ kind: "upload", payload: { job: "outbox", path: `/outbox/f${i}`, size: i, mtimeMs: 1 }, dedupeKey: `outbox:/outbox/f${i}` });
  }
  // Deterministic kill delays (0..255 ms after "ready"), so a failure replays the same schedule.
  const delays = pseudoRandomBytes(ROUNDS, 7);
  let killed = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const worker = spawnFixture("crashWorker.ts", [file, starts, "run"]);
    t.after(() => worker.child.kill("SIGKILL"));
    assert.equal(await worker.nextLine(), "ready");
    await sleep(delays[round] ?? 0);
    worker.child.kill("SIGKILL");
    const exit = await worker.exited;
    if (exit.signal === "SIGKILL") killed++;
    else assert.fail(`round ${round}: worker exited on its own (${exit.code}): ${exit.stderr}`);
  }
  const doneBeforeDrain = store.listJobs({ states: ["done"], limit: JOBS }).length;
  const drain = spawnFixture("crashWorker.ts", [file, starts, "drain"]);
  t.after(() => drain.child.kill("SIGKILL"));
  const end = await drain.exited;
  assert.equal(end.code, 0, `drain run failed: ${end.stderr}`);

  const db = openDatabase(file);
  const states = db.prepare("SELECT state, count(*) AS n FROM jobs GROUP BY state").all();
  assert.deepEqual(states, [{ state: "done", n: JOBS }], "every job done, none stuck leased, none dead");
  const perJob = db.prepare("SELECT job_id AS id, count(*) AS n, max(path) AS path FROM transfers GROUP BY job_id ORDER BY job_id").all() as { id: number; n: number; path: string }[];
  assert.equal(perJob.length, JOBS, "each job recorded a transfer");
  assert.deepEqual(perJob.filter((r) => r.n !== 1), [], "no job recorded twice");
  assert.equal(db.prepare("SELECT count(*) FROM jobs WHERE lease_token IS NOT NULL").pluck().get(), 0);
  const later = new JobStore(db, { clock: { now: () => Date.now() + 3_600_000 } });
  assert.deepEqual(later.recoverExpiredLeases(), [], "no lease left to expire");
  const startLines = existsSync(starts) ? readFileSync(starts, "utf8").trim().split("\n").length : 0;
  t.diagnostic(`${killed} kills; ${doneBeforeDrain}/${JOBS} done before the drain run; ${startLines} handler starts for ${JOBS} jobs (the extra ones were interrupted by kills)`);
});
