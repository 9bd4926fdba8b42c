/**
 * D10 — the scheduler across downtime and DST; D11 — wall-clock jumps during leases and
 * timeouts. Time is injected: a clock whose wall time (persisted: created_at, lease expiry,
 * run_after) can jump while its timers run on monotonic time, as setTimeout's do.
 * TZ is set for this process (node --test runs each file in its own process).
 */
process.env.TZ = "Europe/Berlin";

import { test } from "node:test";
import assert from "node:assert/strict";
import { silentLogger } from "../../src/log/index.js";
import { JobStore, openDatabase, SqliteQueue, WorkerRunner, type Clock, type RunnerEvent } from "../../src/queue/index.js";
import { nextFire } from "../../src/daemon/cronTimes.js";
import { Scheduler } from "../../src/daemon/scheduler.js";
import type { MirrorJob } from "../../src/daemon/config.js";
import { dstMismatches } from "./dstCompare.js";

/** Wall time = monotonic time + an offset the test can jump; timers fire on monotonic time, inside advance(). */
class JumpClock implements Clock {
  #mono = 0;
  #offset: number;
  #seq = 0;
  readonly #timers = new Map<number, { at: number; fn: () => void }>();
  constructor(wallStart: number) { this.#offset = wallStart; }
  now(): number { return this.#mono + this.#offset; }
  setTimer(fn: () => void, ms: number): () => void {
    const id = ++this.#seq;
    this.#timers.set(id, { at: this.#mono + ms, fn });
    return () => this.#timers.delete(id);
  }
  /** The wall clock jumps (NTP step, a person setting the time); monotonic time does not move. */
  jump(ms: number): void { this.#offset += ms; }
  advance(ms: number): void {
    const end = this.#mono + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.#timers) if (e[1].at <= end && (!next || e[1].at < next[1].at)) next = e;
      if (!next) break;
      this.#timers.delete(next[0]);
      this.#mono = Math.max(this.#mono, next[1].at);
      next[1].fn();
    }
    this.#mono = end;
  }
}

const turn = () => new Promise<void>((r) => setImmediate(r));
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) { if (cond()) return; await turn(); }
  throw new Error(`never happened: ${what}`);
}

const mirror = (schedule: string, extra: Partial<MirrorJob> = {}): MirrorJob => ({
  kind: "mirror", name: "m", remote: "srv", remoteRoot: "/m", localRoot: "/tmp/m", direction: "upload",
  schedule, catchUp: true, delete: false, checksum: false, include: [], exclude: [], parallel: 1, ...extra,
});

// ---- D10 ---------------------------------------------------------------------------------

test("D10 downtime: the catch-up is decided from the persisted last run; a 5-hour outage gives one run, not five; a restart coalesces", async () => {
  let wall = Date.parse("2026-06-10T08:00:30Z");
  const db = openDatabase(":memory:");
  const store = new JobStore(db, { clock: { now: () => wall } });
  const queue = new SqliteQueue(db, { clock: { now: () => wall } });
  const job = mirror("0 * * * *");
  const scheduler = () => new Scheduler({ store: queue, jobs: [job], onEnqueued: () => {}, logger: silentLogger(), now: () => wall });
  assert.equal(await scheduler().missedRun(job), "catch-up: never ran");
  store.enqueue({ kind: "mirror", payload: { job: "m" }, dedupeKey: "mirror:m" });
  const leased = store.lease({ workerId: "w" });
  assert.ok(leased?.status === "leased");
  store.complete(leased.job);
  wall += 30 * 60_000; // 08:30: the 09:00 run is not due yet
  assert.equal(await scheduler().missedRun(job), undefined);
  wall = Date.parse("2026-06-10T13:20:00Z"); // down from 08:30 to 13:20: five slots passed
  assert.equal(await scheduler().missedRun(job), "catch-up: the run due at 2026-06-10T13:00:00.000Z was missed");
  assert.equal(await scheduler().missedRun({ ...job, catchUp: false }), undefined);
  const s = scheduler();
  assert.equal(await s.enqueue(job, (await scheduler().missedRun(job))!), true);
  assert.equal(await scheduler().enqueue(job, "catch-up again after a quick restart"), false, "coalesced with the queued run");
  assert.equal(store.listJobs({ name: "m", states: ["queued"] }).length, 1);
});

test("D10 noOverlap: ticks during a three-hour run coalesce into it; the next tick after it ends queues one run", async () => {
  let wall = Date.parse("2026-06-10T08:00:00Z");
  const db = openDatabase(":memory:");
  const store = new JobStore(db, { clock: { now: () => wall }, leaseMs: 60_000 });
  const queue = new SqliteQueue(db, { clock: { now: () => wall }, leaseMs: 60_000 });
  const job = mirror("*/10 * * * *");
  const s = new Scheduler({ store: queue, jobs: [job], onEnqueued: () => {}, logger: silentLogger(), now: () => wall });
  assert.equal(await s.enqueue(job, "schedule"), true);
  let lease = store.lease({ workerId: "w" });
  assert.ok(lease?.status === "leased");
  for (let i = 0; i < 18; i++) { // a tick every 10 minutes for 3 hours while the run goes on
    wall += 10 * 60_000;
    store.heartbeat(lease.job, { leaseMs: 60_000 });
    assert.equal(await s.enqueue(job, "schedule"), false, `tick ${i} coalesced`);
  }
  assert.equal(store.listJobs({ name: "m" }).length, 1, "one run, never two at once");
  store.complete(lease.job);
  assert.equal(await s.enqueue(job, "schedule"), true);
  lease = store.lease({ workerId: "w" });
  assert.ok(lease?.status === "leased");
  assert.equal(store.listJobs({ name: "m" }).length, 2);
});

/** Fire times of `expr` from `from` until `to`, by nextFire. */
function fires(expr: string, from: string, to: string): Date[] {
  const out: Date[] = [];
  for (let t = nextFire(expr, new Date(from)); t && t.getTime() < Date.parse(to); t = nextFire(expr, t)) out.push(t);
  return out;
}

test("D10 DST (Europe/Berlin), node-cron semantics: a daily time in the skipped hour does not run that day; one in the repeated hour runs once; intervals never run twice", () => {
  // Spring forward, 29 March 2026: 02:00 CET → 03:00 CEST; 02:30 does not exist that day and
  // node-cron skips it (documented in the schedule field: pick a time outside 02:00–03:00).
  const spring = fires("30 2 * * *", "2026-03-27T12:00:00Z", "2026-04-01T00:00:00Z");
  assert.deepEqual(spring.map((d) => d.toISOString()), ["2026-03-28T01:30:00.000Z", "2026-03-30T00:30:00.000Z", "2026-03-31T00:30:00.000Z"]);
  // The other hours of that day are not lost with it.
  assert.ok(fires("30 2,14 * * *", "2026-03-28T22:00:00Z", "2026-03-29T22:00:00Z").some((d) => d.toISOString() === "2026-03-29T12:30:00.000Z"));
  // Fall back, 25 October 2026: 03:00 CEST → 02:00 CET; 02:30 happens twice, the run once.
  const fall = fires("30 2 * * *", "2026-10-23T12:00:00Z", "2026-10-28T00:00:00Z");
  assert.equal(fall.length, 4);
  assert.equal(new Set(fall.map((d) => d.toDateString())).size, 4, "one run per calendar day");
  // Every 15 minutes across both nights: strictly increasing, so never a double run; the gap
  // over the skipped hour is 15 minutes of real time; the repeated hour's slots fire once, so
  // that gap is 75 minutes.
  for (const [from, to, maxGapMin] of [["2026-03-28T23:00:00Z", "2026-03-29T03:00:00Z", 15], ["2026-10-24T22:00:00Z", "2026-10-25T03:00:00Z", 75]] as const) {
    const f = fires("*/15 * * * *", from, to);
    assert.ok(f.length >= 12);
    for (let i = 1; i < f.length; i++) {
      const gap = (f[i]!.getTime() - f[i - 1]!.getTime()) / 60_000;
      assert.ok(gap > 0 && gap <= maxGapMin, `gap of ${gap} min between ${f[i - 1]!.toISOString()} and ${f[i]!.toISOString()}`);
    }
  }
});

test("D10 DST (Europe/Berlin): ferry's next and previous run times (status, catch-up) are the times node-cron fires, across both transitions", () => {
  assert.deepEqual(dstMismatches(["2026-03-28T22:00:00Z", "2026-10-24T22:00:00Z"]), []);
});

// ---- D11 ---------------------------------------------------------------------------------

/** A runner over an in-memory store, both on the jump clock, with one mirror job that runs until released. */
async function leasedRun(leaseMs: number) {
  const clock = new JumpClock(Date.parse("2026-06-10T08:00:00Z"));
  const db = openDatabase(":memory:");
  const store = new JobStore(db, { clock, leaseMs });
  const queue = new SqliteQueue(db, { clock, leaseMs });
  const { job } = store.enqueue({ kind: "mirror", payload: { job: "long" } });
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let started = false;
  const runner = new WorkerRunner(queue, {
    clock, leaseMs, heartbeatIntervalMs: 40, sweepIntervalMs: 50, pollIntervalMs: 5, logger: silentLogger(),
    handlers: {
      mirror: async (_job, { signal }) => {
        started = true;
        await new Promise<void>((resolve, reject) => {
          void released.then(resolve);
          signal.addEventListener("abort", () => reject(signal.reason as Error), { once: true });
        });
      },
    },
  });
  const events: RunnerEvent[] = [];
  for (const name of ["lease:expired", "lease:lost", "job:succeeded"] as const) runner.on(name, () => events.push(name));
  runner.start();
  for (let i = 0; i < 100 && !started; i++) { clock.advance(5); await turn(); }
  assert.ok(started, "the handler started");
  return { clock, store, job, runner, events, release };
}

test("D11: the wall clock jumps 2 h forward during a lease, at every phase of the heartbeat and sweep timers: the running job keeps its lease", async () => {
  for (let phase = 0; phase < 50; phase += 5) {
    const { clock, store, job, runner, events, release } = await leasedRun(100);
    clock.advance(phase);
    await turn();
    clock.jump(2 * 3_600_000);
    for (let i = 0; i < 10; i++) { clock.advance(10); await turn(); }
    assert.deepEqual(events, [], `phase ${phase}: no lease expired or lost because of the jump`);
    assert.equal(store.getJob(job.id)?.state, "leased");
    assert.ok((store.getJob(job.id)?.leaseExpiresAt ?? 0) > clock.now(), "the lease runs ahead of the new wall time");
    release();
    await until(() => store.getJob(job.id)?.state === "done", "job done");
    assert.deepEqual(events, ["job:succeeded"]);
    await runner.stop(0);
  }
});

test("D11: the wall clock jumps 2 h back during a lease: heartbeats and the grace period still fire on time; the job ends once", async () => {
  const { clock, store, job, runner, events, release } = await leasedRun(100);
  clock.jump(-2 * 3_600_000);
  for (let i = 0; i < 30; i++) { clock.advance(10); await turn(); } // 300 ms of monotonic time: 7 heartbeats
  assert.ok((store.getJob(job.id)?.leaseExpiresAt ?? 0) > clock.now(), "heartbeats renewed the lease against the new wall time");
  assert.deepEqual(events, []);
  // A stop with a 1 s grace: its timer is monotonic, so it ends after 1 s, not 2 h + 1 s.
  const stopped = runner.stop(1000);
  let done = false;
  void stopped.then(() => (done = true));
  for (let i = 0; i < 11 && !done; i++) { clock.advance(100); await turn(); await turn(); }
  assert.ok(done, "the grace period ended on monotonic time");
  release();
  const row = store.getJob(job.id)!;
  assert.notEqual(row.state, "leased", "the lease was given back");
});
