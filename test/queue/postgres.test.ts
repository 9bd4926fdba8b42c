// The Postgres driver against a real throwaway cluster: the key JobStore/JobControl cases on
// the async Queue API, then what only a shared database can get wrong (several pools leasing at
// once, caps across nodes, concurrent migration, a server restart, secrets in messages).
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import pg from "pg";
import { DatabaseTooNewError, LeaseLostError, PayloadError, type LeasedJob, type LeaseResult } from "../../src/queue/index.js";
import type { Queue } from "../../src/queue/Queue.js";
import {
  DatabaseAuthError,
  DatabaseConfigError,
  DatabaseUnreachableError,
  defaultPostgresMigrationsDir,
  migratePostgres,
  openPostgresQueue,
  PgDatabase,
  QueueClosedError,
} from "../../src/queue/postgres/index.js";
import { ManualClock, upload } from "./helpers.js";
import { freshPostgresUrl, openTestPostgresQueue, queryTestPostgres, testPostgresCluster, type TestPostgresQueueOptions } from "./postgresDriver.js";

function leased(result: LeaseResult | null): LeasedJob {
  assert.ok(result, "expected a job to lease");
  assert.equal(result.status, "leased");
  return result.job;
}

async function setup(t: TestContext, options: TestPostgresQueueOptions = {}): Promise<{ q: Queue; clock: ManualClock }> {
  const clock = new ManualClock();
  const q = await openTestPostgresQueue(t, { clock, rng: () => 0.5, ...options });
  return { q, clock };
}

const mirror = (job: string) => ({ kind: "mirror" as const, payload: { job }, dedupeKey: `mirror:${job}` });

test("enqueue: same dedupe key while waiting returns the existing job; no key never coalesces", async (t) => {
  const { q } = await setup(t);
  const a = await q.enqueue({ kind: "upload", payload: upload("/out/a.csv"), dedupeKey: "outbox:/out/a.csv" });
  const again = await q.enqueue({ kind: "upload", payload: { ...upload("/out/a.csv"), size: 99 }, dedupeKey: "outbox:/out/a.csv" });
  const b = await q.enqueue({ kind: "upload", payload: upload("/out/b.csv"), dedupeKey: "outbox:/out/b.csv" });
  const noKey1 = await q.enqueue({ kind: "mirror", payload: { job: "photos" } });
  const noKey2 = await q.enqueue({ kind: "mirror", payload: { job: "photos" } });
  assert.equal(a.created, true);
  assert.deepEqual({ created: again.created, id: again.job.id, size: again.job.kind === "upload" && again.job.payload.size }, { created: false, id: a.job.id, size: 10 });
  assert.equal(b.created, true);
  assert.notEqual(b.job.id, a.job.id);
  assert.ok(noKey1.created && noKey2.created && noKey1.job.id !== noKey2.job.id);
  assert.equal((await q.listJobs()).length, 4);
});

test("enqueue: a failed job waiting for its retry absorbs duplicates; coalesceWithLeased joins a running one", async (t) => {
  const { q, clock } = await setup(t);
  const first = await q.enqueue(mirror("photos"));
  const running = leased(await q.lease({ workerId: "w" }));
  const tick = await q.enqueue(mirror("photos"), { coalesceWithLeased: true });
  assert.deepEqual([tick.created, tick.job.id, tick.job.state], [false, running.id, "leased"]);
  await q.fail(running, new Error("421 too many connections"), { delayMs: 5000 });
  clock.advance(1);
  const again = await q.enqueue(mirror("photos"));
  assert.deepEqual([again.created, again.job.id, again.job.state], [false, first.job.id, "failed"]);
  clock.advance(5000);
  const held = leased(await q.lease({ workerId: "w" }));
  const changed = await q.enqueue(mirror("photos"));
  assert.equal(changed.created, true, "without coalesceWithLeased a running job does not absorb the new one");
  assert.notEqual(changed.job.id, held.id);
});

test("enqueue validates the payload and keys; nothing is stored", async (t) => {
  const { q } = await setup(t);
  await assert.rejects(q.enqueue({ kind: "upload", payload: { ...upload("/x"), path: "out/a.csv" } }), (e: unknown) => e instanceof PayloadError && /^upload payload: path: must be an absolute local path$/.test(e.message));
  await assert.rejects(q.enqueue({ kind: "rsync" as "mirror", payload: { job: "a" } }), /unknown job kind "rsync"; known kinds: mirror, upload/);
  await assert.rejects(q.enqueue({ kind: "mirror", payload: { job: "a" }, dedupeKey: "" }), /dedupeKey must be a non-empty string or left out, got ""/);
  await assert.rejects(q.enqueue({ kind: "mirror", payload: { job: "a" }, runAfter: 1.5 }), /runAfter must be integer ms since epoch, got 1\.5/);
  assert.equal((await q.listJobs()).length, 0);
});

test("lease validates the payload again: a bad one goes dead with the zod message, the next job is leasable", async (t) => {
  const { q } = await setup(t);
  const bad = await q.enqueue({ kind: "upload", payload: upload("/out/a") });
  const good = await q.enqueue({ kind: "upload", payload: upload("/out/b") });
  await queryTestPostgres(q, `UPDATE jobs SET payload = jsonb_set(payload, '{path}', '"relative/a"') WHERE id = $1`, [bad.job.id]);
  const first = await q.lease({ workerId: "w" });
  assert.ok(first && first.status === "rejected");
  assert.deepEqual([first.job.id, first.job.state, first.job.leaseToken], [bad.job.id, "dead", null]);
  assert.equal(first.job.lastError, "invalid payload: upload payload: path: must be an absolute local path");
  assert.equal(leased(await q.lease({ workerId: "w" })).id, good.job.id);
});

test("lease: oldest runnable first, honours run_after, kinds and per-key limits", async (t) => {
  const { q, clock } = await setup(t);
  const later = await q.enqueue({ kind: "mirror", payload: { job: "later" }, runAfter: clock.now() + 1000 });
  const m = await q.enqueue({ kind: "mirror", payload: { job: "m" } });
  const u1 = await q.enqueue({ kind: "upload", payload: upload("/a"), concurrencyKey: "backup" });
  const u2 = await q.enqueue({ kind: "upload", payload: upload("/b"), concurrencyKey: "backup" });
  const u3 = await q.enqueue({ kind: "upload", payload: upload("/c"), concurrencyKey: "other" });
  const uploads = { workerId: "w", kinds: ["upload"] as const, keyLimits: { backup: 1 } };
  assert.equal(leased(await q.lease(uploads)).id, u1.job.id);
  assert.equal(leased(await q.lease(uploads)).id, u3.job.id, "backup is at its cap; other is not");
  assert.equal(await q.lease(uploads), null, "u2 waits for backup's slot");
  assert.equal(leased(await q.lease({ workerId: "w" })).id, m.job.id, "no limits given: mirror is next by age");
  assert.equal(leased(await q.lease({ workerId: "w" })).id, u2.job.id);
  assert.equal(await q.lease({ workerId: "w" }), null, "later is not yet due");
  clock.advance(1000);
  const l = leased(await q.lease({ workerId: "w2", leaseMs: 500 }));
  assert.deepEqual([l.id, l.attempts, l.leaseOwner, l.leaseExpiresAt], [later.job.id, 1, "w2", clock.now() + 500]);
  await assert.rejects(q.lease({ workerId: "w", keyLimits: { backup: 0 } }), /keyLimits\.backup must be a positive integer/);
});

test("heartbeat extends the lease; recovery leaves a live lease alone", async (t) => {
  const { q, clock } = await setup(t, { leaseMs: 1000 });
  await q.enqueue(mirror("m"));
  const job = leased(await q.lease({ workerId: "w" }));
  clock.advance(900);
  assert.equal(await q.heartbeat(job), clock.now() + 1000);
  clock.advance(900);
  assert.deepEqual(await q.recoverExpiredLeases(), []);
  assert.equal((await q.getJob(job.id))?.state, "leased");
  await q.complete(job);
  assert.equal((await q.getJob(job.id))?.state, "done");
});

test("an expired lease is recovered; the old holder's writes all fail with LeaseLostError", async (t) => {
  const { q, clock } = await setup(t, { leaseMs: 1000 });
  await q.enqueue(mirror("m"));
  const old = leased(await q.lease({ workerId: "crashed" }));
  clock.advance(1000);
  const recovered = await q.recoverExpiredLeases();
  assert.equal(recovered.length, 1);
  assert.deepEqual([recovered[0]?.outcome, recovered[0]?.job.state, recovered[0]?.job.lastError, recovered[0]?.job.leaseToken], ["retry", "failed", "lease expired (held by crashed)", null]);
  const fresh = leased(await q.lease({ workerId: "w" }));
  assert.deepEqual([fresh.id, fresh.attempts], [old.id, 2]);
  assert.notEqual(fresh.leaseToken, old.leaseToken);
  for (const [op, run] of [
    ["heartbeat", () => q.heartbeat(old)],
    ["complete", () => q.complete(old)],
    ["fail", () => q.fail(old, new Error("x"))],
    ["defer", () => q.defer(old)],
  ] as const) {
    await assert.rejects(run(), (e: unknown) => e instanceof LeaseLostError && e.jobId === old.id && e.message.startsWith(`${op} job ${old.id}: lease lost`), op);
  }
  await q.complete(fresh);
  await assert.rejects(q.complete(fresh), LeaseLostError, "completing twice is a lost lease too");
});

test("an expired lease on the last attempt goes dead", async (t) => {
  const { q, clock } = await setup(t, { leaseMs: 10, maxAttempts: 1 });
  await q.enqueue(mirror("m"));
  leased(await q.lease({ workerId: "w" }));
  clock.advance(10);
  const [r] = await q.recoverExpiredLeases();
  assert.deepEqual([r?.outcome, r?.job.lastError], ["dead", "lease expired (held by w) on attempt 1 of 1"]);
});

test("fail: retries with backoff (jitter from rng) until the attempt limit, then dead", async (t) => {
  const { q, clock } = await setup(t, { maxAttempts: 3, backoff: { baseMs: 100, capMs: 10_000, jitter: 0.5 }, rng: () => 0.75 });
  const { job } = await q.enqueue({ kind: "upload", payload: upload("/a") });
  const seen: [string, number, number][] = [];
  for (let i = 0; i < 3; i++) {
    clock.advance(10_000);
    const l = leased(await q.lease({ workerId: "w" }));
    const r = await q.fail(l, new Error(`boom ${i}`));
    seen.push([r.outcome, r.job.attempts, r.outcome === "retry" ? r.job.runAfter - clock.now() : -1]);
  }
  // rng 0.75 with jitter 0.5: +25 % on each delay.
  assert.deepEqual(seen, [["retry", 1, 125], ["retry", 2, 250], ["dead", 3, -1]]);
  const dead = await q.getJob(job.id);
  assert.deepEqual([dead?.state, dead?.lastError], ["dead", "Error: boom 2 (after 3 attempts)"]);
  clock.advance(1e9);
  assert.equal(await q.lease({ workerId: "w" }), null);
});

test("fail: not retryable goes dead at once; delayMs overrides the backoff", async (t) => {
  const { q, clock } = await setup(t);
  await q.enqueue(mirror("a"));
  await q.enqueue(mirror("b"));
  const a = leased(await q.lease({ workerId: "w" }));
  assert.equal((await q.fail(a, "530 login incorrect", { retryable: false })).job.lastError, "530 login incorrect (not retryable)");
  const b = leased(await q.lease({ workerId: "w" }));
  assert.equal((await q.fail(b, new Error("421"), { delayMs: 60_000 })).job.runAfter, clock.now() + 60_000);
  clock.advance(59_999);
  assert.equal(await q.lease({ workerId: "w" }), null);
  clock.advance(1);
  assert.equal(leased(await q.lease({ workerId: "w" })).id, b.id);
});

test("defer gives the attempt back and records no error", async (t) => {
  const { q, clock } = await setup(t, { maxAttempts: 1 });
  await q.enqueue(mirror("a"));
  for (let i = 0; i < 3; i++) {
    const l = leased(await q.lease({ workerId: "w" }));
    const r = await q.defer(l, { delayMs: 10, reason: "remote busy" });
    assert.deepEqual([r.job.state, r.job.attempts, r.job.lastError, r.job.runAfter], ["queued", 0, null, clock.now() + 10]);
    clock.advance(10);
  }
  assert.equal((await q.fail(leased(await q.lease({ workerId: "w" })), new Error("x"))).outcome, "dead");
});

test("a job returning to waiting folds into a newer waiting job with the same key", async (t) => {
  const { q } = await setup(t);
  const key = "outbox:/out/a.csv";
  await q.enqueue({ kind: "upload", payload: upload("/out/a.csv"), dedupeKey: key });
  const running = leased(await q.lease({ workerId: "w" }));
  const newer = await q.enqueue({ kind: "upload", payload: { ...upload("/out/a.csv"), size: 20 }, dedupeKey: key });
  assert.equal(newer.created, true);
  const r = await q.fail(running, new Error("size changed during upload"));
  assert.equal(r.mergedInto, newer.job.id);
  assert.equal(await q.getJob(running.id), undefined);
  const survivor = await q.getJob(newer.job.id);
  assert.ok(survivor?.kind === "upload");
  assert.deepEqual([survivor.state, survivor.attempts, survivor.payload.size, survivor.lastError], ["queued", 1, 20, "Error: size changed during upload"]);
});

test("complete records transfers and hook notifications in its transaction; a bad record or a throwing notify commits nothing", async (t) => {
  const { q, clock } = await setup(t);
  await q.enqueue({ kind: "upload", payload: upload("/out/a.csv") });
  const l = leased(await q.lease({ workerId: "w" }));
  await assert.rejects(q.complete(l, { transfers: [{ path: "/inbox/a.csv", bytes: -1, durationMs: 5, verified: "sha256" }] }), /transfer record: bytes: Too small/);
  const record = { path: "/inbox/a.csv", bytes: 10, durationMs: 5, verified: "sha256" };
  await assert.rejects(q.complete(l, { transfers: [record], notify: () => { throw new Error("notify broke"); } }), /notify broke/);
  assert.equal((await q.getJob(l.id))?.state, "leased");
  assert.deepEqual(await q.transfers.list(), []);
  const done = await q.complete(l, {
    transfers: [record],
    notify: (job) => [{ hook: "hooks[0]", facts: { event: "run.succeeded", time: "2026-01-01T00:00:00Z", job: job.name, jobId: job.id } }],
  });
  assert.deepEqual([done.state, done.finishedAt, done.leaseToken], ["done", clock.now(), null]);
  const [tr] = await q.transfers.list({ jobName: "outbox" });
  assert.deepEqual(tr && { ...tr, id: 0 }, { id: 0, jobId: l.id, jobName: "outbox", ...record, finishedAt: clock.now() });
  const deliveries = await q.hooks.list();
  assert.deepEqual(deliveries.map((d) => [d.hook, d.event, d.jobName, d.facts.jobId, d.state, d.nextAttemptAt]), [["hooks[0]", "run.succeeded", "outbox", l.id, "pending", clock.now()]]);
});

test("hook deliveries: the oldest pending of each hook is due first; retry, deliver, give up, summary, prune", async (t) => {
  const { q, clock } = await setup(t);
  const now = clock.now();
  const facts = (job: string) => ({ event: "run.failed" as const, time: "2026-01-01T00:00:00Z", job });
  await q.hooks.add([{ hook: "a", facts: facts("1") }, { hook: "a", facts: facts("2") }, { hook: "b", facts: facts("3") }], now);
  const due = await q.hooks.due(now, 10, new Set());
  assert.deepEqual(due.map((d) => [d.hook, d.jobName]), [["a", "1"], ["b", "3"]]);
  assert.deepEqual(await q.hooks.due(now, 10, new Set()), [], "taken notifications are claimed: another node asking now gets none");
  await q.hooks.retry(due[0]!.id, 1, "HTTP 500", now + 1000, now);
  await q.hooks.giveUp(due[1]!.id, 3, "gone", now);
  assert.deepEqual(await q.hooks.due(now, 10, new Set()), [], "a's head waits for its retry; a's second must not overtake it");
  assert.equal(await q.hooks.nextDue(), now + 1000);
  const summary = await q.hooks.summary();
  assert.deepEqual([summary.pending, summary.retrying.map((d) => d.lastError), summary.gaveUpCount, summary.gaveUp.map((d) => d.hook)], [2, ["HTTP 500"], 1, ["b"]]);
  await q.hooks.delivered(due[0]!.id, 2, now + 1000);
  assert.deepEqual((await q.hooks.due(now + 1000, 10, new Set())).map((d) => d.jobName), ["2"]);
  assert.equal(await q.hooks.pruneBefore(now + 1), 1, "only the given-up one finished before the cutoff");
});

test("prune deletes old finished jobs and history; wake makes waiting runs due; summaries count by state", async (t) => {
  const { q, clock } = await setup(t);
  await q.enqueue(mirror("a"));
  const l = leased(await q.lease({ workerId: "w" }));
  await q.complete(l, { transfers: [{ path: "/x", bytes: 1, durationMs: 1, verified: "size" }] });
  await q.enqueue({ ...mirror("b"), runAfter: clock.now() + 60_000 });
  assert.deepEqual((await q.jobSummaries()).map((s) => [s.name, s.counts.done, s.counts.queued, s.lastSuccessAt, s.nextRunAt]), [
    ["a", 1, 0, clock.now(), null],
    ["b", 0, 1, null, clock.now() + 60_000],
  ]);
  assert.equal(await q.wake(["b", "nope"]), 1);
  assert.equal((await q.getJob(l.id + 1))?.runAfter, clock.now());
  clock.advance(1000);
  assert.deepEqual(await q.prune({ olderThanMs: 1000 }), { jobs: 0, transfers: 0 });
  clock.advance(1);
  assert.deepEqual(await q.prune({ olderThanMs: 1000 }), { jobs: 1, transfers: 1 });
  assert.deepEqual((await q.listJobs()).map((j) => j.name), ["b"]);
});

test("control: pause holds a job's waiting runs on every node until resume", async (t) => {
  const { q } = await setup(t);
  await q.enqueue(mirror("a"));
  const b = (await q.enqueue(mirror("b"))).job;
  assert.equal(await q.control.pause("a"), true);
  assert.equal(await q.control.pause("a"), false);
  assert.deepEqual((await q.control.paused()).map((p) => p.name), ["a"]);
  assert.equal(leased(await q.lease({ workerId: "w" })).id, b.id);
  assert.equal(await q.lease({ workerId: "w" }), null);
  assert.equal(await q.control.resume("a"), true);
  assert.equal(await q.control.resume("a"), false);
  assert.equal(leased(await q.lease({ workerId: "w" })).name, "a");
});

test("control: retryDead requeues with fresh attempts or folds into a waiting run of the same key; cancelWaiting never touches a leased run", async (t) => {
  const { q } = await setup(t, { maxAttempts: 1 });
  const died = async (job: string) => {
    const id = (await q.enqueue(mirror(job))).job.id;
    const l = leased(await q.lease({ workerId: "w" }));
    assert.equal(l.id, id);
    await q.fail(l, new Error("boom"));
    return id;
  };
  const a = await died("a");
  const b = await died("b");
  const waiting = (await q.enqueue(mirror("b"))).job.id;
  assert.deepEqual((await q.control.dead()).map((j) => j.id), [b, a]);
  assert.deepEqual(await q.control.retryDead(), { retried: [a], folded: [{ id: b, into: waiting }] });
  const again = await q.getJob(a);
  assert.deepEqual([again?.state, again?.attempts, again?.finishedAt, again?.lastError], ["queued", 0, null, "Error: boom (after 1 attempts)"]);
  assert.equal(await q.getJob(b), undefined);
  const running = leased(await q.lease({ workerId: "w" })).id;
  const queued = (await q.enqueue(mirror("a"))).job.id;
  assert.deepEqual(await q.control.cancelWaiting({ name: "a", id: waiting }), []);
  assert.deepEqual((await q.control.cancelWaiting({ name: "a" })).map((j) => j.id), [queued]);
  assert.equal((await q.getJob(running))?.state, "leased");
});

// --- what only a shared database can get wrong ---

/** Queues on one fresh database, as separate nodes would open it (each its own pool). */
async function nodes(t: TestContext, n: number, options: TestPostgresQueueOptions = {}): Promise<Queue[]> {
  const url = await freshPostgresUrl(t);
  const queues = await Promise.all(Array.from({ length: n }, () => openPostgresQueue({ url, poolSize: 4, ...options })));
  t.after(() => Promise.all(queues.map((q) => q.close())));
  return queues;
}

test("4 nodes leasing 200 jobs at once: every job is handed out exactly once", async (t) => {
  const queues = await nodes(t, 4);
  const [first] = queues;
  await Promise.all(queues.map(async (q, n) => {
    for (let i = n; i < 200; i += queues.length) await q.enqueue({ kind: "upload", payload: upload(`/out/${i}`) });
  }));
  const got = new Map<number, string>();
  const twice: number[] = [];
  await Promise.all(queues.flatMap((q, n) => [0, 1, 2].map(async (w) => {
    for (;;) {
      const r = await q.lease({ workerId: `node${n}:w${w}` });
      if (!r) return;
      if (got.has(r.job.id)) twice.push(r.job.id);
      got.set(r.job.id, r.job.leaseOwner ?? "");
    }
  })));
  assert.deepEqual(twice, []);
  assert.equal(got.size, 200);
  assert.ok(new Set(got.values()).size > 4, "several workers of several nodes took part");
  assert.equal((await first!.listJobs({ states: ["leased"], limit: 1000 })).length, 200);
});

test("keyLimits hold across nodes: never more leased under one key than its cap", async (t) => {
  const cap = 3;
  const queues = await nodes(t, 4);
  await Promise.all(queues.map(async (q, n) => {
    for (let i = n; i < 60; i += queues.length) await q.enqueue({ kind: "upload", payload: upload(`/out/${i}`), concurrencyKey: i % 4 === 0 ? "other" : "backup" });
  }));
  let held = 0;
  let peak = 0;
  let peakInDb = 0;
  let done = 0;
  await Promise.all(queues.flatMap((q, n) => [0, 1, 2].map(async (w) => {
    for (let idle = 0; idle < 200 && done < 60; ) {
      const r = await q.lease({ workerId: `node${n}:w${w}`, keyLimits: { backup: cap } });
      if (!r) {
        idle++;
        await new Promise((resolve) => setImmediate(resolve));
        continue;
      }
      const mine = r.job.concurrencyKey === "backup";
      // Counted from after the lease committed until before complete starts: never more than the database holds.
      if (mine) peak = Math.max(peak, ++held);
      // Hold the lease for a few round trips, and look at what the database holds meanwhile.
      await q.heartbeat(leased(r));
      const inDb = (await q.listJobs({ states: ["leased"], limit: 1000 })).filter((j) => j.concurrencyKey === "backup").length;
      peakInDb = Math.max(peakInDb, inDb);
      if (mine) held--;
      await q.complete(leased(r));
      done++;
    }
  })));
  assert.equal(done, 60);
  assert.ok(peak <= cap, `workers held ${peak} leases under "backup" at once; the cap is ${cap}`);
  assert.equal(peakInDb, cap, `peak ${peakInDb} leased under "backup" in the database: the cap is reached and never passed`);
});

test("nodes enqueueing one dedupe key at once create one waiting job; recovery by several nodes returns each expired job once", async (t) => {
  const clock = new ManualClock();
  const queues = await nodes(t, 3, { clock, leaseMs: 1000 });
  const results = await Promise.all(queues.flatMap((q) => Array.from({ length: 8 }, () => q.enqueue(mirror("photos")))));
  assert.equal(results.filter((r) => r.created).length, 1);
  assert.equal(new Set(results.map((r) => r.job.id)).size, 1);
  for (let i = 0; i < 30; i++) await queues[0]!.enqueue({ kind: "upload", payload: upload(`/out/${i}`) });
  for (let i = 0; i < 31; i++) leased(await queues[i % 3]!.lease({ workerId: `crashed${i % 3}` }));
  clock.advance(1000);
  const recovered = (await Promise.all(queues.map((q) => q.recoverExpiredLeases()))).flat();
  assert.equal(recovered.length, 31);
  assert.equal(new Set(recovered.map((r) => r.job.id)).size, 31);
  assert.ok(recovered.every((r) => r.outcome === "retry" && r.job.state === "failed"));
});

test("a job failing on one node while another enqueues its key folds into the new job or stays the single waiting one", async (t) => {
  const queues = await nodes(t, 2);
  const key = "outbox:/out/a.csv";
  for (let round = 0; round < 10; round++) {
    await queues[0]!.enqueue({ kind: "upload", payload: upload("/out/a.csv"), dedupeKey: key });
    const running = leased(await queues[0]!.lease({ workerId: "w" }));
    const [failed, added] = await Promise.all([
      queues[0]!.fail(running, new Error("changed")),
      queues[1]!.enqueue({ kind: "upload", payload: { ...upload("/out/a.csv"), size: 20 + round }, dedupeKey: key }),
    ]);
    const waiting = await queues[1]!.listJobs({ states: ["queued", "failed"] });
    assert.equal(waiting.length, 1, `round ${round}: one waiting job for the key`);
    assert.equal(waiting[0]!.id, failed.mergedInto ?? failed.job.id);
    assert.equal(added.job.id, added.created ? waiting[0]!.id : failed.job.id);
    await queues[1]!.control.cancelWaiting({ name: "outbox" });
  }
});

/** This ferry's own Postgres migrations, by name, in order. */
function ownMigrations(): string[] {
  return readdirSync(defaultPostgresMigrationsDir()).filter((f) => /^\d{4}_.*\.sql$/.test(f)).sort().map((f) => f.replace(/\.sql$/, ""));
}

test("concurrent migration: 3 nodes opening a fresh database at once apply each migration exactly once", async (t) => {
  const url = await freshPostgresUrl(t);
  const dir = mkdtempSync(join(tmpdir(), "ferry-pgmig-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, "0001_init.sql"), readFileSync(join(defaultPostgresMigrationsDir(), "0001_init.sql")));
  // Not idempotent on purpose: applied twice, it would count 2 (or fail on the table).
  writeFileSync(join(dir, "0002_counter.sql"), "CREATE TABLE applied_count (n integer NOT NULL); INSERT INTO applied_count VALUES (1);");
  const dbs = [0, 1, 2].map(() => new PgDatabase(url, { poolSize: 2 }));
  t.after(() => Promise.all(dbs.map((db) => db.close())));
  const applied = await Promise.all(dbs.map((db) => migratePostgres(db, { migrationsDir: dir, now: () => 42 })));
  assert.deepEqual(applied.flat().sort(), ["0001_init", "0002_counter"]);
  const { rows } = await dbs[0]!.query("SELECT id, name, applied_at FROM schema_migrations ORDER BY id");
  assert.deepEqual(rows, [{ id: 1, name: "0001_init", applied_at: 42 }, { id: 2, name: "0002_counter", applied_at: 42 }]);
  assert.deepEqual((await dbs[0]!.query("SELECT count(*) AS n FROM applied_count")).rows, [{ n: 1 }]);
  // And through the real entry point with this ferry's own folder.
  const fresh = await freshPostgresUrl(t);
  const queues = await Promise.all([0, 1, 2].map(() => openPostgresQueue({ url: fresh })));
  t.after(() => Promise.all(queues.map((q) => q.close())));
  const own = await new PgDatabase(fresh).query("SELECT id, name FROM schema_migrations ORDER BY id");
  assert.deepEqual(own.rows, ownMigrations().map((name) => ({ id: Number(name.slice(0, 4)), name })));
});

test("a database migrated by a newer ferry is refused with DatabaseTooNewError", async (t) => {
  const q = await openTestPostgresQueue(t);
  await queryTestPostgres(q, "INSERT INTO schema_migrations (id, name, applied_at) VALUES (99, '0099_future', 0)");
  await assert.rejects(openPostgresQueue({ url: q.where }), (e: unknown) =>
    e instanceof DatabaseTooNewError && e.message.includes(q.where) && new RegExp(`records migration 0099_future, but this ferry knows only up to ${ownMigrations().at(-1)}; upgrade ferry`).test(e.message));
});

test("a Postgres restart: calls fail with DatabaseUnreachableError, then work again without reopening", async (t) => {
  const cluster = await testPostgresCluster(t);
  const { q } = await setup(t);
  await q.enqueue(mirror("before"));
  await cluster.stop();
  let restarted = false;
  t.after(async () => {
    if (!restarted) await cluster.start();
  });
  await assert.rejects(q.enqueue(mirror("during")), (e: unknown) =>
    e instanceof DatabaseUnreachableError && e.where === q.where && e.message.startsWith(`enqueue mirror: database unreachable at ${q.where} (`));
  await assert.rejects(q.lease({ workerId: "w" }), DatabaseUnreachableError);
  await cluster.start();
  restarted = true;
  // The pool may still hold a connection the restart cut; it is dropped on first use.
  let job: LeasedJob | undefined;
  for (let i = 0; i < 50 && !job; i++) {
    const r = await q.lease({ workerId: "w" }).catch(async (e: unknown) => {
      assert.ok(e instanceof DatabaseUnreachableError, String(e));
      await new Promise((resolve) => setTimeout(resolve, 100));
      return null;
    });
    if (r) job = leased(r);
  }
  assert.equal(job?.name, "before");
  await q.complete(job!);
  assert.equal((await q.enqueue(mirror("after"))).created, true);
});

test("a pool with every connection busy says so instead of blaming the server", async (t) => {
  const db = new PgDatabase(await freshPostgresUrl(t), { poolSize: 1, connectTimeoutMs: 200 });
  t.after(() => db.close());
  let release!: () => void;
  let acquired!: () => void;
  const holding = new Promise<void>((resolve) => (acquired = resolve));
  const held = db.withClient("hold", () => new Promise<void>((resolve) => ((release = resolve), acquired())));
  await holding;
  await assert.rejects(db.query("SELECT 1"), (e: unknown) =>
    e instanceof DatabaseUnreachableError && /all 1 connections of this process were busy, so raise poolSize/.test(e.message));
  release();
  await held;
  assert.deepEqual((await db.query("SELECT 1 AS one")).rows, [{ one: 1 }]);
});

test("a refused connection and a wrong password are typed errors naming the URL without the password", async (t) => {
  const cluster = await testPostgresCluster(t);
  const secret = "s3cr3t-Pa55";
  const wrong = "wr0ng-Pa55";
  // carol gets a fresh schema of the file's database and logs in with a password.
  const fresh = new URL(await freshPostgresUrl(t));
  const schema = /search_path=(\w+)/.exec(decodeURIComponent(fresh.search))?.[1];
  const admin = new pg.Client({ connectionString: fresh.toString() });
  await admin.connect();
  await admin.query(`CREATE ROLE carol LOGIN PASSWORD '${secret}'`);
  await admin.query(`GRANT ALL ON SCHEMA ${schema} TO carol`);
  // Password logins for carol only; the cluster trusts everyone else.
  const hba = join(cluster.dir, "data", "pg_hba.conf");
  writeFileSync(hba, `host all carol 127.0.0.1/32 scram-sha-256\n${readFileSync(hba, "utf8")}`);
  await admin.query("SELECT pg_reload_conf()");
  await admin.end();
  const at = (password: string) => {
    const u = new URL(fresh);
    u.username = "carol";
    u.password = password;
    return u.toString();
  };
  const shown = at("");
  const noSecret = (e: unknown) => {
    const text = `${(e as Error).message} ${String((e as Error).cause)} ${JSON.stringify(e)}`;
    return !text.includes(wrong) && !text.includes(secret);
  };
  await assert.rejects(openPostgresQueue({ url: at(wrong) }), (e: unknown) =>
    e instanceof DatabaseAuthError && e.message.includes(shown) && /refused the login of user "carol" \(password authentication failed/.test(e.message) && noSecret(e));
  await assert.rejects(openPostgresQueue({ url: shown }), (e: unknown) => e instanceof DatabaseAuthError && noSecret(e), "no password given");
  const good = await openPostgresQueue({ url: at(secret) });
  assert.equal(good.where, shown);
  assert.equal((await good.enqueue(mirror("a"))).created, true);
  await good.close();
  await assert.rejects(good.getJob(1), QueueClosedError);
  await assert.rejects(openPostgresQueue({ url: `postgres://carol:${secret}@127.0.0.1:${cluster.port}/nosuchdb` }), (e: unknown) =>
    e instanceof DatabaseConfigError && /database "nosuchdb" does not exist at postgres:\/\/carol@.*; create it \(createdb\)/.test(e.message) && noSecret(e));
  await assert.rejects(openPostgresQueue({ url: `mysql://carol:${secret}@h/db` }), (e: unknown) =>
    e instanceof DatabaseConfigError && e.message === "database mysql://carol@h/db: a Postgres URL starts with postgres:// (got mysql://)");
  // Nothing listens on port 1 of loopback.
  const refused = `postgres://carol:${secret}@127.0.0.1:1/x`;
  await assert.rejects(openPostgresQueue({ url: refused }), (e: unknown) =>
    e instanceof DatabaseUnreachableError && e.message.includes("postgres://carol@127.0.0.1:1/x") && /ECONNREFUSED/.test(e.message) && noSecret(e));
});

test("hook deliveries with 3 nodes dispatching at once: each notification is taken by one node, in order per hook; a dead node's claim runs out", async (t) => {
  const queues = await nodes(t, 3);
  const [first] = queues;
  const now = Date.now();
  const facts = (job: string) => ({ event: "run.succeeded" as const, time: "2026-01-01T00:00:00Z", job });
  for (let i = 0; i < 60; i++) await first!.hooks.add([{ hook: `h${i % 6}`, facts: facts(String(i)) }], now);
  const taken: string[] = [];
  await Promise.all(queues.map(async (q) => {
    for (let round = 0; round < 200; round++) {
      const due = await q.hooks.due(now, 4, new Set());
      if (due.length === 0 && (await q.hooks.summary()).pending === 0) return;
      for (const d of due) {
        taken.push(d.jobName!);
        await q.hooks.delivered(d.id, 1, now);
      }
    }
  }));
  assert.equal(taken.length, 60, `each delivered once: ${taken.length}`);
  assert.equal(new Set(taken).size, 60);
  const perHook = (h: number) => taken.map(Number).filter((j) => j % 6 === h);
  for (let h = 0; h < 6; h++) assert.deepEqual(perHook(h), [...perHook(h)].sort((a, b) => a - b), `hook h${h} in order`);
  // A node takes one and dies: nobody gets it until the claim runs out, then another node does.
  await first!.hooks.add([{ hook: "late", facts: facts("x") }], now);
  const [claimed] = await queues[1]!.hooks.due(now, 1, new Set());
  assert.equal(claimed?.jobName, "x");
  assert.deepEqual(await queues[2]!.hooks.due(now + 60_000, 1, new Set()), []);
  assert.deepEqual((await queues[2]!.hooks.due(now + 62 * 60_000, 1, new Set())).map((d) => d.jobName), ["x"]);
});
