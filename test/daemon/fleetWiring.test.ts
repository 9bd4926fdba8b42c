import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { HookDispatcher, HookEvents, type ResolvedHook } from "../../src/daemon/hooks/index.js";
import { Scheduler, type MirrorJob } from "../../src/daemon/index.js";
import type { TickClaims } from "../../src/fleet/index.js";
import { createLogger, silentLogger } from "../../src/log/index.js";
import type { HookDeliveries, Job, SettledRun } from "../../src/queue/index.js";
import { JobStore, openDatabase, SqliteQueue } from "../../src/queue/index.js";

// The daemon's fleet wiring (issue 16) that the multi-node tests cannot pin down one by one:
// one run per tick across nodes, and the hook events of a distributed mirror run.

/** Tick claims shared by the "nodes" of a test: the first claim of a (job, tick) wins, as PgTicks. */
class SharedTicks implements TickClaims {
  readonly claims = new Map<string, string>();
  async claim(job: string, tickMs: number, node: string): Promise<boolean> {
    const key = `${job}@${tickMs}`;
    if (this.claims.has(key)) return false;
    this.claims.set(key, node);
    return true;
  }
}

const mirror: MirrorJob = {
  kind: "mirror", name: "photos", remote: "backup", remoteRoot: "/p", localRoot: "/tmp/p", direction: "upload",
  schedule: "*/10 * * * *", catchUp: true, delete: false, checksum: false, include: [], exclude: [], parallel: 4,
};

describe("scheduler: one run per tick across the fleet", () => {
  it("two nodes firing the same tick queue one run; after it finished, the tick's late firing still queues none", async () => {
    const db = openDatabase(":memory:");
    const store = new JobStore(db);
    const ticks = new SharedTicks();
    const node = (id: string) => new Scheduler({ store: new SqliteQueue(db), jobs: [mirror], logger: silentLogger(), onEnqueued: () => {}, ticks, node: id });
    const [a, b] = [node("a"), node("b")];
    const tick = new Date(2026, 0, 5, 10, 10).getTime();
    assert.equal(await a.enqueueTick(mirror, tick, "schedule"), true);
    const lease = store.lease({ workerId: "w" });
    assert.equal(lease?.status, "leased");
    if (lease?.status === "leased") store.complete(lease.job);
    // Without the claim this would queue a second run: the first one is done, nothing coalesces.
    assert.equal(await b.enqueueTick(mirror, tick, "schedule"), false);
    assert.equal(store.listJobs({ name: "photos" }).length, 1);
    assert.deepEqual([...ticks.claims], [[`photos@${tick}`, "a"]]);
    // The next tick is b's if b fires first.
    assert.equal(await b.enqueueTick(mirror, tick + 600_000, "schedule"), true);
    assert.equal(store.listJobs({ name: "photos" }).length, 2);
    db.close();
  });

  it("catch-up: nodes starting together name the same tick (the missed one, or the latest for a mirror that never ran)", async () => {
    const db = openDatabase(":memory:");
    let now = new Date(2026, 0, 5, 10, 13).getTime();
    const at = (ms: number) => new Scheduler({ store: new SqliteQueue(db, { clock: { now: () => now } }), jobs: [mirror], logger: silentLogger(), onEnqueued: () => {}, now: () => ms });
    const never = await at(now).missedTick(mirror);
    assert.deepEqual(never, { reason: "catch-up: never ran", tickMs: new Date(2026, 0, 5, 10, 10).getTime() });
    assert.deepEqual(await at(now + 2000).missedTick(mirror), never);
    await at(now).enqueue(mirror, "first");
    now = new Date(2026, 0, 5, 12, 3).getTime();
    const missed = await at(now).missedTick(mirror);
    assert.equal(missed?.tickMs, new Date(2026, 0, 5, 12, 0).getTime());
    assert.deepEqual(await at(now + 5000).missedTick(mirror), missed);
    db.close();
  });

  it("a claim the database refuses skips the tick, queueing nothing", async () => {
    const db = openDatabase(":memory:");
    const failing: TickClaims = { claim: async () => { throw new Error("connection terminated"); } };
    const s = new Scheduler({ store: new SqliteQueue(db), jobs: [mirror], logger: silentLogger(), onEnqueued: () => {}, ticks: failing, node: "a" });
    assert.equal(await s.enqueueTick(mirror, 0, "schedule"), false);
    assert.equal(new JobStore(db).listJobs({ name: "photos" }).length, 0);
    db.close();
  });
});

describe("hook events of a distributed mirror run", () => {
  const hook: ResolvedHook = {
    id: "all", events: new Set(["run.started", "run.succeeded", "run.failed", "job.dead"]), action: { kind: "webhook", url: "http://127.0.0.1:1/", headers: {} },
    timeoutMs: 1000, attempts: 1, backoff: { baseMs: 1000, capMs: 4000, jitter: 0 },
  };
  const emitted: string[] = [];
  // Only notifications() and emit() are used: a store that records what emit() would keep.
  const deliveries = { add: async (rows: readonly { facts: { event: string; kind?: string } }[]) => {
    for (const r of rows) emitted.push(`${r.facts.event}:${r.facts.kind}`);
  } } as unknown as HookDeliveries;
  const d = new HookDispatcher({ deliveries, hooks: [hook], logger: createLogger({ level: "silent" }) });
  const distributed = new Set([1]);
  const events = new HookEvents(d, () => ({ kind: "mirror", remote: "backup", direction: "upload" }), () => 0, (job) => distributed.has(job.id));
  const job = (id: number, kind: Job["kind"], payload: unknown = { job: "photos" }): Job =>
    ({ id, kind, name: "photos", attempts: 1, concurrencyKey: "backup", lastError: "boom", payload } as unknown as Job);
  const outcome = (run: SettledRun) => events.settled(run).map((n) => `${n.facts.event}:${n.facts.kind ?? ""}:${n.facts.job ?? ""}`);
  const totals = { files: 12, bytes: 3400, unchanged: 0 };

  it("the plan's success ends no run; a single mirror's does", () => {
    assert.deepEqual(outcome({ outcome: "succeeded", job: job(1, "mirror"), durationMs: 5, bytes: 0, files: 0 }), []);
    assert.deepEqual(outcome({ outcome: "succeeded", job: job(2, "mirror"), durationMs: 5, bytes: 0, files: 0 }), ["run.succeeded:mirror:photos"]);
  });

  it("a part says nothing unless it goes dead: then job.dead only", () => {
    const part = job(3, "mirror-part");
    assert.deepEqual(outcome({ outcome: "succeeded", job: part, durationMs: 5, bytes: 10, files: 1 }), []);
    assert.deepEqual(outcome({ outcome: "failed", job: part, durationMs: 5, error: new Error("x"), runAfter: 9 }), []);
    assert.deepEqual(outcome({ outcome: "dead", job: part, durationMs: 5, error: new Error("x") }), ["job.dead:mirror:photos"]);
  });

  it("the finish reports the run's outcome under the mirror's name, with the run's files and bytes", () => {
    const finish = job(4, "mirror-finish", { job: "photos", totals });
    const ok = events.settled({ outcome: "succeeded", job: finish, durationMs: 5, bytes: 0, files: 0 });
    assert.deepEqual(ok.map((n) => [n.facts.event, n.facts.kind, n.facts.job, n.facts.files, n.facts.bytes]), [["run.succeeded", "mirror", "photos", 12, 3400]]);
    assert.deepEqual(outcome({ outcome: "dead", job: finish, durationMs: 5, error: new Error("part 3 failed") }), ["run.failed:mirror:photos", "job.dead:mirror:photos"]);
  });

  it("leases: run.started for the plan, none for parts and the finish", async () => {
    const listeners = new Map<string, (p: unknown) => void>();
    events.attach({ on: (e: string, fn: (p: unknown) => void) => (listeners.set(e, fn), () => undefined) } as never);
    for (const j of [job(1, "mirror"), job(3, "mirror-part"), job(4, "mirror-finish", { job: "photos", totals })]) listeners.get("job:leased")!({ job: j });
    // The dispatcher stores in emit order: once a marker emitted now is stored, so is everything before it.
    await d.emit({ event: "run.started", time: "t", job: "marker", kind: "marker" });
    assert.deepEqual(emitted, ["run.started:mirror", "run.started:marker"]);
  });
});
