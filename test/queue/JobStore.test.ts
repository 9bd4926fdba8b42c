// The queue's semantics, run against every driver (drivers.ts) through the async Queue API.
import { describe, test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { LeaseLostError, PayloadError, type LeasedJob, type LeaseResult } from "../../src/queue/index.js";
import { drivers, type QueueTestDriver, type QueueTestOptions } from "./drivers.js";
import { ManualClock, upload } from "./helpers.js";

/** A fresh queue of this driver on a manual clock, jitter fixed at its midpoint. */
async function memoryStore(driver: QueueTestDriver, t: TestContext, options: QueueTestOptions = {}) {
  const clock = new ManualClock();
  const store = await driver.open(t, { clock, rng: () => 0.5, ...options });
  return { store, clock };
}

function leased(result: LeaseResult | null): LeasedJob {
  assert.ok(result, "expected a job to lease");
  assert.equal(result.status, "leased");
  return result.job;
}

for (const driver of drivers) describe(`queue over ${driver.name}`, () => {
  test("enqueue: same dedupe key while waiting returns the existing job", async (t) => {
    const { store } = await memoryStore(driver, t);
    const a = await store.enqueue({ kind: "upload", payload: upload("/out/a.csv"), dedupeKey: "outbox:/out/a.csv" });
    const again = await store.enqueue({ kind: "upload", payload: { ...upload("/out/a.csv"), size: 99 }, dedupeKey: "outbox:/out/a.csv" });
    const b = await store.enqueue({ kind: "upload", payload: upload("/out/b.csv"), dedupeKey: "outbox:/out/b.csv" });
    const noKey1 = await store.enqueue({ kind: "mirror", payload: { job: "photos" } });
    const noKey2 = await store.enqueue({ kind: "mirror", payload: { job: "photos" } });
    assert.equal(a.created, true);
    assert.deepEqual({ created: again.created, id: again.job.id, size: again.job.kind === "upload" && again.job.payload.size }, { created: false, id: a.job.id, size: 10 });
    assert.equal(b.created, true);
    assert.notEqual(b.job.id, a.job.id);
    assert.ok(noKey1.created && noKey2.created && noKey1.job.id !== noKey2.job.id, "jobs without a key never coalesce");
    assert.equal((await store.listJobs()).length, 4);
  });

  test("a job bound to a node (an outbox upload) is leased by that node only, also after its lease expired", async (t) => {
    const { store, clock } = await memoryStore(driver, t, { leaseMs: 1000 });
    const bound = await store.enqueue({ kind: "upload", payload: upload("/out/a.csv"), node: "edge-a" });
    const free = await store.enqueue({ kind: "mirror", payload: { job: "photos" } });
    assert.equal(bound.job.node, "edge-a");
    assert.equal(free.job.node, null);
    const other = leased(await store.lease({ workerId: "edge-b:1:w1", node: "edge-b" }));
    assert.equal(other.id, free.job.id, "another node takes only the unbound job");
    await store.complete(other);
    assert.equal(await store.lease({ workerId: "edge-b:1:w1", node: "edge-b" }), null);
    assert.equal(await store.lease({ workerId: "anon" }), null, "a lease naming no node takes no bound job");
    const mine = leased(await store.lease({ workerId: "edge-a:1:w1", node: "edge-a" }));
    assert.equal(mine.id, bound.job.id);
    clock.advance(1001); // edge-a dies holding it
    await store.recoverExpiredLeases();
    assert.equal(await store.lease({ workerId: "edge-b:1:w1", node: "edge-b" }), null, "its upload waits for edge-a, whose disk has the file");
    assert.equal(leased(await store.lease({ workerId: "edge-a:2:w1", node: "edge-a" })).id, bound.job.id);
    await assert.rejects(store.enqueue({ kind: "upload", payload: upload("/out/b.csv"), node: "" }), /node must be a non-empty string/);
  });

  test("enqueue: a job waiting for its retry (failed) also absorbs duplicates", async (t) => {
    const { store, clock } = await memoryStore(driver, t);
    const first = await store.enqueue({ kind: "mirror", payload: { job: "photos" }, dedupeKey: "mirror:photos" });
    const job = leased(await store.lease({ workerId: "w" }));
    await store.fail(job, new Error("421 too many connections"));
    clock.advance(1);
    const again = await store.enqueue({ kind: "mirror", payload: { job: "photos" }, dedupeKey: "mirror:photos" });
    assert.deepEqual([again.created, again.job.id, again.job.state], [false, first.job.id, "failed"]);
  });

  test("enqueue while the same key is leased: a new job, unless coalesceWithLeased", async (t) => {
    const { store } = await memoryStore(driver, t);
    await store.enqueue({ kind: "mirror", payload: { job: "photos" }, dedupeKey: "mirror:photos" });
    const running = leased(await store.lease({ workerId: "w" }));
    const tick = await store.enqueue({ kind: "mirror", payload: { job: "photos" }, dedupeKey: "mirror:photos" }, { coalesceWithLeased: true });
    assert.deepEqual([tick.created, tick.job.id, tick.job.state], [false, running.id, "leased"]);
    const changed = await store.enqueue({ kind: "mirror", payload: { job: "photos" }, dedupeKey: "mirror:photos" });
    assert.equal(changed.created, true);
    assert.notEqual(changed.job.id, running.id);
    const third = await store.enqueue({ kind: "mirror", payload: { job: "photos" }, dedupeKey: "mirror:photos" }, { coalesceWithLeased: true });
    assert.equal(third.created, false);
  });

  test("enqueue validates the payload: each problem named by path", async (t) => {
    const { store } = await memoryStore(driver, t);
    const rows: { title: string; kind: "upload" | "mirror"; payload: unknown; message: RegExp }[] = [
      { title: "relative path", kind: "upload", payload: { ...upload("/x"), path: "out/a.csv" }, message: /^upload payload: path: must be an absolute local path$/ },
      { title: "missing job", kind: "mirror", payload: {}, message: /^mirror payload: job: / },
      { title: "empty job", kind: "mirror", payload: { job: "" }, message: /job: Too small/ },
      { title: "unknown field", kind: "mirror", payload: { job: "a", extra: 1 }, message: /payload: Unrecognized key: "extra"/ },
      { title: "negative size", kind: "upload", payload: { ...upload("/x"), size: -1 }, message: /size: Too small/ },
      { title: "fractional size and missing mtime", kind: "upload", payload: { job: "o", path: "/x", size: 1.5 }, message: /size: .*; mtimeMs: / },
      { title: "unknown kind", kind: "rsync" as "mirror", payload: { job: "a" }, message: /unknown job kind "rsync"; known kinds: mirror, upload/ },
    ];
    for (const row of rows) {
      await assert.rejects(() => store.enqueue({ kind: row.kind, payload: row.payload as never }), (e: unknown) => e instanceof PayloadError && row.message.test(e.message), row.title);
    }
    await assert.rejects(() => store.enqueue({ kind: "mirror", payload: { job: "a" }, dedupeKey: "" }), /enqueue mirror: dedupeKey must be a non-empty string or left out, got ""/);
    await assert.rejects(() => store.enqueue({ kind: "mirror", payload: { job: "a" }, runAfter: 1.5 }), /runAfter must be integer ms since epoch, got 1\.5/);
    assert.equal((await store.listJobs()).length, 0, "nothing was stored");
  });

  test("lease: oldest runnable first, honours run_after, kinds and per-key limits", async (t) => {
    const { store, clock } = await memoryStore(driver, t);
    const later = await store.enqueue({ kind: "mirror", payload: { job: "later" }, runAfter: clock.now() + 1000 });
    const m = await store.enqueue({ kind: "mirror", payload: { job: "m" } });
    const u1 = await store.enqueue({ kind: "upload", payload: upload("/a"), concurrencyKey: "backup" });
    const u2 = await store.enqueue({ kind: "upload", payload: upload("/b"), concurrencyKey: "backup" });
    const u3 = await store.enqueue({ kind: "upload", payload: upload("/c"), concurrencyKey: "other" });
    const uploads = { workerId: "w", kinds: ["upload"] as const, keyLimits: { backup: 1 } };
    assert.equal(leased(await store.lease(uploads)).id, u1.job.id);
    assert.equal(leased(await store.lease(uploads)).id, u3.job.id, "backup is at its cap; other is not");
    assert.equal(await store.lease(uploads), null, "u2 waits for backup's slot");
    assert.equal(leased(await store.lease({ workerId: "w" })).id, m.job.id, "no limits given: mirror is next by age");
    assert.equal(leased(await store.lease({ workerId: "w" })).id, u2.job.id);
    assert.equal(await store.lease({ workerId: "w" }), null, "later is not yet due");
    clock.advance(1000);
    const l = leased(await store.lease({ workerId: "w2", leaseMs: 500 }));
    assert.deepEqual([l.id, l.attempts, l.leaseOwner, l.leaseExpiresAt], [later.job.id, 1, "w2", clock.now() + 500]);
    await assert.rejects(() => store.lease({ workerId: "w", keyLimits: { backup: 0 } }), /keyLimits\.backup must be a positive integer/);
  });

  test("heartbeat extends the lease; recovery leaves a live lease alone", async (t) => {
    const { store, clock } = await memoryStore(driver, t, { leaseMs: 1000 });
    await store.enqueue({ kind: "mirror", payload: { job: "m" } });
    const job = leased(await store.lease({ workerId: "w" }));
    clock.advance(900);
    assert.equal(await store.heartbeat(job), clock.now() + 1000);
    clock.advance(900);
    assert.deepEqual(await store.recoverExpiredLeases(), []);
    assert.equal((await store.getJob(job.id))?.state, "leased");
    await store.complete(job);
    assert.equal((await store.getJob(job.id))?.state, "done");
  });

  test("an expired lease is recovered; the old holder's writes all fail with LeaseLostError", async (t) => {
    const { store, clock } = await memoryStore(driver, t, { leaseMs: 1000 });
    await store.enqueue({ kind: "mirror", payload: { job: "m" } });
    const old = leased(await store.lease({ workerId: "crashed" }));
    clock.advance(1000);
    const [recovered, ...rest] = await store.recoverExpiredLeases();
    assert.equal(rest.length, 0);
    assert.equal(recovered?.outcome, "retry");
    assert.equal(recovered?.job.state, "failed");
    assert.equal(recovered?.job.lastError, "lease expired (held by crashed)");
    assert.equal(recovered?.job.leaseToken, null);
    const fresh = leased(await store.lease({ workerId: "w" }));
    assert.equal(fresh.id, old.id);
    assert.equal(fresh.attempts, 2);
    assert.notEqual(fresh.leaseToken, old.leaseToken);
    for (const [op, run] of [
      ["heartbeat", () => store.heartbeat(old)],
      ["complete", () => store.complete(old)],
      ["fail", () => store.fail(old, new Error("x"))],
      ["defer", () => store.defer(old)],
    ] as const) {
      await assert.rejects(run, (e: unknown) => e instanceof LeaseLostError && e.jobId === old.id && e.message.startsWith(`${op} job ${old.id}: lease lost`), op);
    }
    await store.complete(fresh);
    await assert.rejects(() => store.complete(fresh), LeaseLostError, "completing twice is a lost lease too");
    assert.equal((await store.getJob(old.id))?.state, "done");
  });

  test("an expired lease on the last attempt goes dead", async (t) => {
    const { store, clock } = await memoryStore(driver, t, { leaseMs: 10, maxAttempts: 1 });
    await store.enqueue({ kind: "mirror", payload: { job: "m" } });
    leased(await store.lease({ workerId: "w" }));
    clock.advance(10);
    const [r] = await store.recoverExpiredLeases();
    assert.equal(r?.outcome, "dead");
    assert.equal(r?.job.lastError, "lease expired (held by w) on attempt 1 of 1");
  });

  test("fail: retries with backoff until the attempt limit, then dead", async (t) => {
    const { store, clock } = await memoryStore(driver, t, { maxAttempts: 3, backoff: { baseMs: 100, capMs: 10_000, jitter: 0 } });
    const { job } = await store.enqueue({ kind: "upload", payload: upload("/a") });
    const seen: [string, number, number][] = [];
    for (let i = 0; i < 3; i++) {
      clock.advance(10_000);
      const l = leased(await store.lease({ workerId: "w" }));
      const r = await store.fail(l, new Error(`boom ${i}`));
      seen.push([r.outcome, r.job.attempts, r.outcome === "retry" ? r.job.runAfter - clock.now() : -1]);
    }
    assert.deepEqual(seen, [["retry", 1, 100], ["retry", 2, 200], ["dead", 3, -1]]);
    const dead = await store.getJob(job.id);
    assert.equal(dead?.state, "dead");
    assert.equal(dead?.lastError, "Error: boom 2 (after 3 attempts)");
    clock.advance(1e9);
    assert.equal(await store.lease({ workerId: "w" }), null);
  });

  test("fail: not retryable goes dead at once; delayMs overrides the backoff; the job is not runnable early", async (t) => {
    const { store, clock } = await memoryStore(driver, t);
    await store.enqueue({ kind: "mirror", payload: { job: "a" } });
    await store.enqueue({ kind: "mirror", payload: { job: "b" } });
    const a = leased(await store.lease({ workerId: "w" }));
    assert.equal((await store.fail(a, "530 login incorrect", { retryable: false })).job.lastError, "530 login incorrect (not retryable)");
    const b = leased(await store.lease({ workerId: "w" }));
    const r = await store.fail(b, new Error("421"), { delayMs: 60_000 });
    assert.equal(r.job.runAfter, clock.now() + 60_000);
    clock.advance(59_999);
    assert.equal(await store.lease({ workerId: "w" }), null);
    clock.advance(1);
    assert.equal(leased(await store.lease({ workerId: "w" })).id, b.id);
  });

  test("defer gives the attempt back and does not record an error", async (t) => {
    const { store, clock } = await memoryStore(driver, t, { maxAttempts: 1 });
    await store.enqueue({ kind: "mirror", payload: { job: "a" } });
    for (let i = 0; i < 5; i++) {
      const l = leased(await store.lease({ workerId: "w" }));
      const r = await store.defer(l, { delayMs: 10, reason: "remote busy" });
      assert.deepEqual([r.job.state, r.job.attempts, r.job.lastError, r.job.runAfter], ["queued", 0, null, clock.now() + 10]);
      clock.advance(10);
    }
    const l = leased(await store.lease({ workerId: "w" }));
    assert.equal((await store.fail(l, new Error("x"))).outcome, "dead", "the single real attempt is still available");
  });

  test("a job returning to waiting folds into a newer waiting job with the same key", async (t) => {
    const { store } = await memoryStore(driver, t);
    const key = "outbox:/out/a.csv";
    await store.enqueue({ kind: "upload", payload: upload("/out/a.csv"), dedupeKey: key });
    const running = leased(await store.lease({ workerId: "w" }));
    // The file changed while it uploaded: a newer job with the final size waits.
    const newer = await store.enqueue({ kind: "upload", payload: { ...upload("/out/a.csv"), size: 20 }, dedupeKey: key });
    assert.equal(newer.created, true);
    const r = await store.fail(running, new Error("size changed during upload"));
    assert.equal(r.mergedInto, newer.job.id);
    assert.equal(await store.getJob(running.id), undefined);
    const survivor = await store.getJob(newer.job.id);
    assert.ok(survivor?.kind === "upload");
    assert.deepEqual([survivor.state, survivor.attempts, survivor.payload.size, survivor.lastError], ["queued", 1, 20, "Error: size changed during upload"]);
    assert.equal((await store.listJobs({ states: ["queued", "failed", "leased"] })).length, 1);
  });

  test("complete records transfers in the same transaction; a bad record completes nothing", async (t) => {
    const { store, clock } = await memoryStore(driver, t);
    await store.enqueue({ kind: "upload", payload: upload("/out/a.csv") });
    const l = leased(await store.lease({ workerId: "w" }));
    await assert.rejects(() => store.complete(l, { transfers: [{ path: "/inbox/a.csv", bytes: -1, durationMs: 5, verified: "sha256" }] }), /transfer record: bytes: Too small/);
    assert.equal((await store.getJob(l.id))?.state, "leased");
    const done = await store.complete(l, { transfers: [{ path: "/inbox/a.csv", bytes: 10, durationMs: 5, verified: "sha256" }] });
    assert.deepEqual([done.state, done.finishedAt, done.leaseToken], ["done", clock.now(), null]);
    const [tr] = await store.transfers.list({ jobName: "outbox" });
    assert.deepEqual(tr && { ...tr, id: 0 }, { id: 0, jobId: l.id, jobName: "outbox", path: "/inbox/a.csv", bytes: 10, durationMs: 5, verified: "sha256", finishedAt: clock.now() });
  });
});
