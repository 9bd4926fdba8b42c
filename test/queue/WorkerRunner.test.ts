import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { pino } from "pino";
import { silentLogger } from "../../src/log/index.js";
import {
  RetryLaterError,
  WorkerRunner,
  type Queue,
  type RunnerEvent,
  type RunnerEventMap,
  type WorkerRunnerOptions,
} from "../../src/queue/index.js";
import { drivers } from "./drivers.js";
import { ManualClock, tick, until, upload } from "./helpers.js";

/** A promise with its resolve exposed. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}

/** Records every event the runner emits, in order. */
function record(runner: WorkerRunner): { name: RunnerEvent; payload: RunnerEventMap[RunnerEvent] }[] {
  const seen: { name: RunnerEvent; payload: RunnerEventMap[RunnerEvent] }[] = [];
  const names: RunnerEvent[] = ["job:leased", "job:succeeded", "job:failed", "job:dead", "job:deferred", "lease:expired", "lease:lost", "runner:error"];
  for (const name of names) runner.on(name, (payload) => seen.push({ name, payload }));
  return seen;
}

function makeRunner(store: Queue, options: Partial<WorkerRunnerOptions> & Pick<WorkerRunnerOptions, "handlers">): WorkerRunner {
  return new WorkerRunner(store, { pollIntervalMs: 5, logger: silentLogger(), ...options });
}

for (const driver of drivers) describe(`WorkerRunner over ${driver.name}`, () => {
  test("N workers run jobs at once; transfers are recorded with completion", async (t) => {
    const store = await driver.open(t);
    for (let i = 0; i < 6; i++) await store.enqueue({ kind: "upload", payload: upload(`/o/${i}`) });
    const release = gate();
    let running = 0;
    let peak = 0;
    const runner = makeRunner(store, {
      concurrency: 3,
      handlers: {
        upload: async (job) => {
          peak = Math.max(peak, ++running);
          await release.promise;
          running--;
          return { transfers: [{ path: `/in${job.payload.path}`, bytes: job.payload.size, durationMs: 1, verified: "sha256" }] };
        },
      },
    });
    const events = record(runner);
    runner.start();
    t.after(() => runner.stop(0));
    await until(() => running === 3, "three handlers running");
    await tick();
    assert.equal(running, 3, "never more than concurrency");
    release.open();
    await until(async () => (await store.listJobs({ states: ["done"] })).length === 6, "all six done");
    assert.equal(peak, 3);
    assert.deepEqual(await runner.stop(1000), { aborted: 0 });
    assert.equal(events.filter((e) => e.name === "job:leased").length, 6);
    const succeeded = events.filter((e) => e.name === "job:succeeded").map((e) => e.payload as RunnerEventMap["job:succeeded"]);
    assert.deepEqual(succeeded.map((s) => [s.job.state, s.bytes]), Array(6).fill(["done", 10]));
    assert.deepEqual((await store.transfers.list()).map((t) => t.path).sort(), [0, 1, 2, 3, 4, 5].map((i) => `/in/o/${i}`));
  });

  test("a failing handler retries with backoff, then goes dead; not-retryable errors go dead at once", async (t) => {
    const store = await driver.open(t, { maxAttempts: 3, backoff: { baseMs: 1, capMs: 4, jitter: 0 } });
    const flaky = (await store.enqueue({ kind: "mirror", payload: { job: "flaky" } })).job;
    const fatal = (await store.enqueue({ kind: "mirror", payload: { job: "fatal" } })).job;
    const runner = makeRunner(store, {
      isRetryable: (err) => !(err instanceof Error && err.message.startsWith("530")),
      handlers: {
        mirror: async (job) => {
          throw new Error(job.payload.job === "fatal" ? "530 not logged in" : "421 service not available");
        },
      },
    });
    const events = record(runner);
    runner.start();
    t.after(() => runner.stop(0));
    await until(() => events.filter((e) => e.name === "job:dead").length === 2, "both jobs dead");
    await runner.stop(1000);
    const about = (id: number): string[] => events.filter((e) => "job" in e.payload && e.payload.job.id === id).map((e) => e.name);
    assert.deepEqual(about(flaky.id), ["job:leased", "job:failed", "job:leased", "job:failed", "job:leased", "job:dead"]);
    assert.deepEqual(about(fatal.id), ["job:leased", "job:dead"]);
    assert.equal((await store.getJob(fatal.id))?.lastError, "Error: 530 not logged in (not retryable)");
    assert.equal((await store.getJob(flaky.id))?.lastError, "Error: 421 service not available (after 3 attempts)");
  });

  test("RetryLaterError defers without using an attempt", async (t) => {
    const store = await driver.open(t, { maxAttempts: 1 });
    const { job } = await store.enqueue({ kind: "mirror", payload: { job: "busy" } });
    let calls = 0;
    const runner = makeRunner(store, {
      handlers: {
        mirror: async () => {
          if (++calls < 4) throw new RetryLaterError("remote at its connection cap", { delayMs: 1 });
        },
      },
    });
    const events = record(runner);
    runner.start();
    t.after(() => runner.stop(0));
    await until(async () => (await store.getJob(job.id))?.state === "done", "job done after three deferrals");
    await runner.stop(1000);
    assert.equal(calls, 4);
    const deferred = events.filter((e) => e.name === "job:deferred").map((e) => (e.payload as RunnerEventMap["job:deferred"]).reason);
    assert.deepEqual(deferred, Array(3).fill("remote at its connection cap"));
    assert.equal((await store.getJob(job.id))?.attempts, 1, "only the successful run counted");
  });

  test("heartbeats keep a long job's lease alive", async (t) => {
    const clock = new ManualClock();
    const store = await driver.open(t, { clock, leaseMs: 300 });
    const { job } = await store.enqueue({ kind: "mirror", payload: { job: "long" } });
    const release = gate();
    let started = false;
    const runner = makeRunner(store, { clock, sweepIntervalMs: 50, handlers: { mirror: async () => ((started = true), await release.promise) } });
    const events = record(runner);
    runner.start();
    t.after(() => runner.stop(0));
    await until(() => started, "handler started");
    for (let i = 0; i < 40; i++) { // 2 s, almost seven lease lengths; each beat lands before time moves on
      clock.advance(50);
      await tick();
      // A networked driver's heartbeat takes a round trip: wait for the beat due by now to land
      // (beats every 100 ms renew to +300 ms, so a landed beat leaves more than 100 ms).
      await until(async () => ((await store.getJob(job.id))?.leaseExpiresAt ?? 0) > clock.now() + 100, `heartbeat landed by ${i * 50 + 50} ms`);
    }
    assert.deepEqual(await store.recoverExpiredLeases(), []);
    const row = await store.getJob(job.id);
    assert.equal(row?.state, "leased");
    assert.ok((row?.leaseExpiresAt ?? 0) > clock.now(), "the lease runs ahead of the clock");
    release.open();
    await until(async () => (await store.getJob(job.id))?.state === "done", "job done");
    assert.deepEqual(events.filter((e) => e.name === "lease:expired" || e.name === "lease:lost"), []);
  });

  test("a lost lease aborts the handler's signal, is reported, and its result is dropped", async (t) => {
    const clock = new ManualClock();
    // Another process whose clock is ahead: the queue's time is skewed while it acts.
    let skew = 0;
    const store = await driver.open(t, { clock: { now: () => clock.now() + skew }, leaseMs: 300 });
    const { job } = await store.enqueue({ kind: "mirror", payload: { job: "slow" } });
    let signal: AbortSignal | undefined;
    const runner = makeRunner(store, {
      clock,
      handlers: {
        mirror: async (_job, ctx) => {
          signal = ctx.signal;
          await new Promise((_, reject) => ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason)));
        },
      },
    });
    const events = record(runner);
    runner.start();
    t.after(() => runner.stop(0));
    await until(() => signal !== undefined, "handler started");
    // Another process decides the lease is gone (as if this one had hung) and takes the job.
    skew = 10_000;
    assert.equal((await store.recoverExpiredLeases()).length, 1);
    const taken = await store.lease({ workerId: "other" });
    assert.ok(taken?.status === "leased");
    skew = 0;
    clock.advance(100); // this runner's next heartbeat finds the token changed
    await until(() => events.some((e) => e.name === "lease:lost"), "lease:lost");
    assert.equal(signal?.aborted, true);
    await tick();
    const row = await store.getJob(job.id);
    assert.deepEqual([row?.state, row?.leaseOwner, row?.leaseToken], ["leased", "other", taken.job.leaseToken]);
    assert.deepEqual(events.filter((e) => e.name === "job:failed" || e.name === "job:dead" || e.name === "job:succeeded"), []);
  });

  test("stop waits for running handlers and leases nothing new", async (t) => {
    const store = await driver.open(t);
    const a = (await store.enqueue({ kind: "mirror", payload: { job: "a" } })).job;
    const b = (await store.enqueue({ kind: "mirror", payload: { job: "b" } })).job;
    const release = gate();
    let running = 0;
    const runner = makeRunner(store, { concurrency: 2, handlers: { mirror: async () => (running++, await release.promise) } });
    runner.start();
    t.after(() => runner.stop(0));
    await until(() => running === 2, "both running");
    const stopped = runner.stop(60_000);
    const c = (await store.enqueue({ kind: "mirror", payload: { job: "c" } })).job;
    runner.notify();
    release.open();
    assert.deepEqual(await stopped, { aborted: 0 });
    assert.deepEqual(await Promise.all([a, b, c].map(async (j) => (await store.getJob(j.id))?.state)), ["done", "done", "queued"]);
  });

  test("after the grace period the signal fires and the job goes back without using an attempt", async (t) => {
    const store = await driver.open(t);
    const { job } = await store.enqueue({ kind: "mirror", payload: { job: "stuck" } });
    let started = false;
    let reason: unknown;
    const runner = makeRunner(store, {
      handlers: {
        mirror: (_job, { signal }) =>
          new Promise((_, reject) => {
            started = true;
            signal.addEventListener("abort", () => reject((reason = signal.reason)));
          }),
      },
    });
    const events = record(runner);
    runner.start();
    t.after(() => runner.stop(0));
    await until(() => started, "handler started");
    assert.deepEqual(await runner.stop(20), { aborted: 1 });
    assert.match(String((reason as Error).message), /grace period of 20 ms ran out/);
    const row = await store.getJob(job.id);
    assert.deepEqual([row?.state, row?.attempts, row?.leaseToken], ["queued", 0, null]);
    assert.deepEqual(events.map((e) => e.name), ["job:leased", "job:deferred"]);
    assert.deepEqual(await runner.stop(0), { aborted: 1 }, "stop again returns the first result");
    assert.throws(() => runner.start(), /already stopped; create a new runner/);
  });

  test("start recovers expired leases and reports them", async (t) => {
    const clock = new ManualClock();
    const store = await driver.open(t, { clock, leaseMs: 100 });
    const { job } = await store.enqueue({ kind: "mirror", payload: { job: "orphan" } });
    assert.ok((await store.lease({ workerId: "crashed-process" }))?.status === "leased");
    clock.advance(100);
    const ran: number[] = [];
    const runner = makeRunner(store, { clock, handlers: { mirror: async (j) => void ran.push(j.id) } });
    const events = record(runner);
    runner.start();
    t.after(() => runner.stop(0));
    await until(() => ran.length === 1, "orphan ran");
    const expired = events.find((e) => e.name === "lease:expired")?.payload as RunnerEventMap["lease:expired"];
    assert.deepEqual([expired.job.id, expired.outcome], [job.id, "retry"]);
    await until(async () => (await store.getJob(job.id))?.state === "done", "orphan done");
    assert.equal((await store.getJob(job.id))?.attempts, 2);
  });

  test("a throwing or rejecting listener is logged and never reaches a worker", async (t) => {
    const store = await driver.open(t);
    for (let i = 0; i < 3; i++) await store.enqueue({ kind: "mirror", payload: { job: `m${i}` } });
    const lines: string[] = [];
    const logger = pino({ level: "error" }, new Writable({ write: (chunk, _enc, cb) => (lines.push(String(chunk)), cb()) }));
    const runner = makeRunner(store, { logger, handlers: { mirror: async () => {} } });
    runner.on("job:leased", () => {
      throw new Error("listener bug");
    });
    runner.on("job:succeeded", (() => Promise.reject(new Error("async listener bug"))) as never);
    runner.start();
    t.after(() => runner.stop(0));
    await until(async () => (await store.listJobs({ states: ["done"] })).length === 3, "all done despite listeners");
    await runner.stop(1000);
    await tick();
    assert.equal(lines.filter((l) => l.includes("runner event listener threw") && l.includes("listener bug")).length, 3);
    assert.equal(lines.filter((l) => l.includes("runner event listener rejected")).length, 3);
  });

  test("runner options are checked", async (t) => {
    const store = await driver.open(t, { leaseMs: 1000 });
    const rows: { title: string; options: Partial<WorkerRunnerOptions>; message: RegExp }[] = [
      { title: "no handlers", options: { handlers: {} }, message: /handlers must name at least one job kind/ },
      { title: "zero concurrency", options: { concurrency: 0 }, message: /concurrency must be a positive integer, got 0/ },
      { title: "heartbeat not shorter than lease", options: { heartbeatIntervalMs: 1000 }, message: /heartbeatIntervalMs \(1000\) must be shorter than leaseMs \(1000\)/ },
    ];
    for (const row of rows) {
      assert.throws(() => makeRunner(store, { handlers: { mirror: async () => {} }, ...row.options }), row.message, row.title);
    }
  });
});
