// A queue that does not answer for a while (a Postgres restart, a full disk): the runner keeps
// polling with backoff, logs the outage once, and aborts a run whose lease it could not renew.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { pino } from "pino";
import { LeaseLostError, openDatabase, SqliteQueue, WorkerRunner, type Queue, type RunnerEvent, type RunnerEventMap } from "../../src/queue/index.js";
import { ManualClock, tick, until } from "./helpers.js";

/** A real queue whose lease, heartbeat and recovery calls reject while `down` is set, as a Postgres restart would. */
function flakyQueue(queue: Queue): { queue: Queue; setDown(down: boolean): void; refused: () => number } {
  let down = false;
  let refused = 0;
  const guarded = new Set<PropertyKey>(["lease", "heartbeat", "recoverExpiredLeases", "complete", "fail", "defer"]);
  const proxy = new Proxy(queue, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        if (down && guarded.has(prop)) {
          refused++;
          return Promise.reject(Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "ECONNREFUSED" }));
        }
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { queue: proxy, setDown: (d) => (down = d), refused: () => refused };
}

function logLines(): { logger: pino.Logger; lines: string[] } {
  const lines: string[] = [];
  return { logger: pino({ level: "info" }, new Writable({ write: (chunk, _enc, cb) => (lines.push(String(chunk)), cb()) })), lines };
}

test("lease and sweep calls that reject are retried with backoff, logged once per outage; the work resumes when the queue answers", async (t) => {
  const real = new SqliteQueue(openDatabase(":memory:"));
  t.after(() => real.close());
  const flaky = flakyQueue(real);
  flaky.setDown(true);
  const { logger, lines } = logLines();
  const ran: number[] = [];
  const runner = new WorkerRunner(flaky.queue, { concurrency: 3, pollIntervalMs: 5, sweepIntervalMs: 10, logger, handlers: { mirror: async (job) => void ran.push(job.id) } });
  const events: RunnerEvent[] = [];
  for (const name of ["runner:error", "runner:recovered"] as const) runner.on(name, () => events.push(name));
  runner.start();
  t.after(() => runner.stop(0));
  await until(() => flaky.refused() >= 12, "several lease and sweep calls refused");
  const { job } = await real.enqueue({ kind: "mirror", payload: { job: "m" } });
  assert.equal(ran.length, 0, "nothing runs while the queue is down");
  flaky.setDown(false);
  await until(async () => (await real.getJob(job.id))?.state === "done", "the job ran once the queue answered");
  assert.deepEqual(ran, [job.id]);
  assert.equal(lines.filter((l) => l.includes("the queue does not answer")).length, 1, "one line for the whole outage, not one per worker and poll");
  assert.equal(lines.filter((l) => l.includes("the queue answers again")).length, 1);
  assert.ok(events.filter((e) => e === "runner:error").length >= 12);
  assert.equal(events.filter((e) => e === "runner:recovered").length, 1);
  // A second outage is logged again.
  flaky.setDown(true);
  await until(() => lines.filter((l) => l.includes("the queue does not answer")).length === 2, "the second outage logged");
  flaky.setDown(false);
  assert.deepEqual(await runner.stop(1000), { aborted: 0 });
});

test("heartbeats that keep failing until the lease would have run out abort the run as a lost lease; its result is dropped", async (t) => {
  const clock = new ManualClock();
  const real = new SqliteQueue(openDatabase(":memory:"), { clock, leaseMs: 300 });
  t.after(() => real.close());
  const flaky = flakyQueue(real);
  const { logger } = logLines();
  let signal: AbortSignal | undefined;
  const runner = new WorkerRunner(flaky.queue, {
    clock, pollIntervalMs: 5, heartbeatIntervalMs: 100, sweepIntervalMs: 10_000, logger,
    handlers: {
      mirror: async (_job, ctx) => {
        signal = ctx.signal;
        await new Promise((_, reject) => ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason)));
      },
    },
  });
  const events: { name: RunnerEvent; payload: unknown }[] = [];
  for (const name of ["lease:lost", "job:failed", "job:dead", "job:succeeded", "job:deferred", "runner:error"] as const) {
    runner.on(name, (payload: RunnerEventMap[typeof name]) => events.push({ name, payload }));
  }
  const { job } = await real.enqueue({ kind: "mirror", payload: { job: "long" } });
  runner.start();
  t.after(() => runner.stop(0));
  await until(() => signal !== undefined, "handler started");
  flaky.setDown(true);
  for (let i = 0; i < 2; i++) { // beats at +100 and +200 fail; the lease (300 ms) still holds
    clock.advance(100);
    await tick();
  }
  assert.equal(signal?.aborted, false, "a beat or two lost is not a lost lease");
  assert.equal(events.filter((e) => e.name === "runner:error").length, 2);
  clock.advance(100); // the beat at +300 fails too: the lease has run out
  await until(() => events.some((e) => e.name === "lease:lost"), "lease:lost");
  assert.equal(signal?.aborted, true);
  const reason = signal?.reason as unknown;
  assert.ok(reason instanceof LeaseLostError && reason.jobId === job.id);
  assert.match(reason.message, /lease lost \(the queue did not renew it before it ran out: connect ECONNREFUSED/);
  flaky.setDown(false);
  await tick();
  assert.deepEqual(events.filter((e) => ["job:failed", "job:dead", "job:succeeded", "job:deferred"].includes(e.name)), [], "the result of a lost run is dropped");
  const row = await real.getJob(job.id);
  assert.equal(row?.state, "leased", "the lease stays for the recovery sweep to return");
  clock.advance(1);
  assert.deepEqual((await real.recoverExpiredLeases()).map((r) => [r.job.id, r.outcome]), [[job.id, "retry"]]);
});
