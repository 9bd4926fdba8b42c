import { test } from "node:test";
import assert from "node:assert/strict";
import { LeaseLostError, PayloadError, type LeasedJob, type LeaseResult } from "../../src/queue/index.js";
import { memoryStore, upload } from "./helpers.js";

function leased(result: LeaseResult | null): LeasedJob {
  assert.ok(result, "expected a job to lease");
  assert.equal(result.status, "leased");
  return result.job;
}

test("enqueue: same dedupe key while waiting returns the existing job", () => {
  const { store } = memoryStore();
  const a = store.enqueue({ kind: "upload", payload: upload("/out/a.csv"), dedupeKey: "outbox:/out/a.csv" });
  const again = store.enqueue({ kind: "upload", payload: { ...upload("/out/a.csv"), size: 99 }, dedupeKey: "outbox:/out/a.csv" });
  const b = store.enqueue({ kind: "upload", payload: upload("/out/b.csv"), dedupeKey: "outbox:/out/b.csv" });
  const noKey1 = store.enqueue({ kind: "mirror", payload: { job: "photos" } });
  const noKey2 = store.enqueue({ kind: "mirror", payload: { job: "photos" } });
  assert.equal(a.created, true);
  assert.deepEqual({ created: again.created, id: again.job.id, size: again.job.kind === "upload" && again.job.payload.size }, { created: false, id: a.job.id, size: 10 });
  assert.equal(b.created, true);
  assert.notEqual(b.job.id, a.job.id);
  assert.ok(noKey1.created && noKey2.created && noKey1.job.id !== noKey2.job.id, "jobs without a key never coalesce");
  assert.equal(store.listJobs().length, 4);
});

test("enqueue: a job waiting for its retry (failed) also absorbs duplicates", () => {
  const { store, clock } = memoryStore();
  const first = store.enqueue({ kind: "mirror", payload: { job: "photos" }, dedupeKey: "mirror:photos" });
  const job = leased(store.lease({ workerId: "w" }));
  store.fail(job, new Error("421 too many connections"));
  clock.advance(1);
  const again = store.enqueue({ kind: "mirror", payload: { job: "photos" }, dedupeKey: "mirror:photos" });
  assert.deepEqual([again.created, again.job.id, again.job.state], [false, first.job.id, "failed"]);
});

test("enqueue while the same key is leased: a new job, unless coalesceWithLeased", () => {
  const { store } = memoryStore();
  store.enqueue({ kind: "mirror", payload: { job: "photos" }, dedupeKey: "mirror:photos" });
  const running = leased(store.lease({ workerId: "w" }));
  const tick = store.enqueue({ kind: "mirror", payload: { job: "photos" }, dedupeKey: "mirror:photos" }, { coalesceWithLeased: true });
  assert.deepEqual([tick.created, tick.job.id, tick.job.state], [false, running.id, "leased"]);
  const changed = store.enqueue({ kind: "mirror", payload: { job: "photos" }, dedupeKey: "mirror:photos" });
  assert.equal(changed.created, true);
  assert.notEqual(changed.job.id, running.id);
  const third = store.enqueue({ kind: "mirror", payload: { job: "photos" }, dedupeKey: "mirror:photos" }, { coalesceWithLeased: true });
  assert.equal(third.created, false);
});

test("enqueue validates the payload: each problem named by path", () => {
  const { store } = memoryStore();
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
    assert.throws(() => store.enqueue({ kind: row.kind, payload: row.payload as never }), (e: unknown) => e instanceof PayloadError && row.message.test(e.message), row.title);
  }
  assert.throws(() => store.enqueue({ kind: "mirror", payload: { job: "a" }, dedupeKey: "" }), /enqueue mirror: dedupeKey must be a non-empty string or left out, got ""/);
  assert.throws(() => store.enqueue({ kind: "mirror", payload: { job: "a" }, runAfter: 1.5 }), /runAfter must be integer ms since epoch, got 1\.5/);
  assert.equal(store.listJobs().length, 0, "nothing was stored");
});

test("lease validates the payload again: a bad one goes dead with the zod message, the next job is leasable", () => {
  const { db, store } = memoryStore();
  const bad = store.enqueue({ kind: "upload", payload: upload("/out/a") });
  const good = store.enqueue({ kind: "upload", payload: upload("/out/b") });
  // As if written by an older ferry whose schema allowed it.
  db.prepare("UPDATE jobs SET payload = json_set(payload, '$.path', 'relative/a') WHERE id = ?").run(bad.job.id);
  const first = store.lease({ workerId: "w" });
  assert.ok(first && first.status === "rejected");
  assert.equal(first.job.id, bad.job.id);
  assert.equal(first.job.state, "dead");
  assert.equal(first.job.lastError, "invalid payload: upload payload: path: must be an absolute local path");
  assert.equal(first.job.leaseToken, null);
  assert.ok(first.job.finishedAt !== null);
  assert.equal(leased(store.lease({ workerId: "w" })).id, good.job.id);
});

test("lease: oldest runnable first, honours run_after, kinds and per-key limits", () => {
  const { store, clock } = memoryStore();
  const later = store.enqueue({ kind: "mirror", payload: { job: "later" }, runAfter: clock.now() + 1000 });
  const m = store.enqueue({ kind: "mirror", payload: { job: "m" } });
  const u1 = store.enqueue({ kind: "upload", payload: upload("/a"), concurrencyKey: "backup" });
  const u2 = store.enqueue({ kind: "upload", payload: upload("/b"), concurrencyKey: "backup" });
  const u3 = store.enqueue({ kind: "upload", payload: upload("/c"), concurrencyKey: "other" });
  const uploads = { workerId: "w", kinds: ["upload"] as const, keyLimits: { backup: 1 } };
  assert.equal(leased(store.lease(uploads)).id, u1.job.id);
  assert.equal(leased(store.lease(uploads)).id, u3.job.id, "backup is at its cap; other is not");
  assert.equal(store.lease(uploads), null, "u2 waits for backup's slot");
  assert.equal(leased(store.lease({ workerId: "w" })).id, m.job.id, "no limits given: mirror is next by age");
  assert.equal(leased(store.lease({ workerId: "w" })).id, u2.job.id);
  assert.equal(store.lease({ workerId: "w" }), null, "later is not yet due");
  clock.advance(1000);
  const l = leased(store.lease({ workerId: "w2", leaseMs: 500 }));
  assert.deepEqual([l.id, l.attempts, l.leaseOwner, l.leaseExpiresAt], [later.job.id, 1, "w2", clock.now() + 500]);
  assert.throws(() => store.lease({ workerId: "w", keyLimits: { backup: 0 } }), /keyLimits\.backup must be a positive integer/);
});

test("heartbeat extends the lease; recovery leaves a live lease alone", () => {
  const { store, clock } = memoryStore({ leaseMs: 1000 });
  store.enqueue({ kind: "mirror", payload: { job: "m" } });
  const job = leased(store.lease({ workerId: "w" }));
  clock.advance(900);
  assert.equal(store.heartbeat(job), clock.now() + 1000);
  clock.advance(900);
  assert.deepEqual(store.recoverExpiredLeases(), []);
  assert.equal(store.getJob(job.id)?.state, "leased");
  store.complete(job);
  assert.equal(store.getJob(job.id)?.state, "done");
});

test("an expired lease is recovered; the old holder's writes all fail with LeaseLostError", () => {
  const { store, clock } = memoryStore({ leaseMs: 1000 });
  store.enqueue({ kind: "mirror", payload: { job: "m" } });
  const old = leased(store.lease({ workerId: "crashed" }));
  clock.advance(1000);
  const [recovered, ...rest] = store.recoverExpiredLeases();
  assert.equal(rest.length, 0);
  assert.equal(recovered?.outcome, "retry");
  assert.equal(recovered?.job.state, "failed");
  assert.equal(recovered?.job.lastError, "lease expired (held by crashed)");
  assert.equal(recovered?.job.leaseToken, null);
  const fresh = leased(store.lease({ workerId: "w" }));
  assert.equal(fresh.id, old.id);
  assert.equal(fresh.attempts, 2);
  assert.notEqual(fresh.leaseToken, old.leaseToken);
  for (const [op, run] of [
    ["heartbeat", () => store.heartbeat(old)],
    ["complete", () => store.complete(old)],
    ["fail", () => store.fail(old, new Error("x"))],
    ["defer", () => store.defer(old)],
  ] as const) {
    assert.throws(run, (e: unknown) => e instanceof LeaseLostError && e.jobId === old.id && e.message.startsWith(`${op} job ${old.id}: lease lost`), op);
  }
  store.complete(fresh);
  assert.throws(() => store.complete(fresh), LeaseLostError, "completing twice is a lost lease too");
  assert.equal(store.getJob(old.id)?.state, "done");
});

test("an expired lease on the last attempt goes dead", () => {
  const { store, clock } = memoryStore({ leaseMs: 10, maxAttempts: 1 });
  store.enqueue({ kind: "mirror", payload: { job: "m" } });
  leased(store.lease({ workerId: "w" }));
  clock.advance(10);
  const [r] = store.recoverExpiredLeases();
  assert.equal(r?.outcome, "dead");
  assert.equal(r?.job.lastError, "lease expired (held by w) on attempt 1 of 1");
});

test("fail: retries with backoff until the attempt limit, then dead", () => {
  const { store, clock } = memoryStore({ maxAttempts: 3, backoff: { baseMs: 100, capMs: 10_000, jitter: 0 } });
  const { job } = store.enqueue({ kind: "upload", payload: upload("/a") });
  const seen: [string, number, number][] = [];
  for (let i = 0; i < 3; i++) {
    clock.advance(10_000);
    const l = leased(store.lease({ workerId: "w" }));
    const r = store.fail(l, new Error(`boom ${i}`));
    seen.push([r.outcome, r.job.attempts, r.outcome === "retry" ? r.job.runAfter - clock.now() : -1]);
  }
  assert.deepEqual(seen, [["retry", 1, 100], ["retry", 2, 200], ["dead", 3, -1]]);
  const dead = store.getJob(job.id);
  assert.equal(dead?.state, "dead");
  assert.equal(dead?.lastError, "Error: boom 2 (after 3 attempts)");
  clock.advance(1e9);
  assert.equal(store.lease({ workerId: "w" }), null);
});

test("fail: not retryable goes dead at once; delayMs overrides the backoff; the job is not runnable early", () => {
  const { store, clock } = memoryStore();
  store.enqueue({ kind: "mirror", payload: { job: "a" } });
  store.enqueue({ kind: "mirror", payload: { job: "b" } });
  const a = leased(store.lease({ workerId: "w" }));
  assert.equal(store.fail(a, "530 login incorrect", { retryable: false }).job.lastError, "530 login incorrect (not retryable)");
  const b = leased(store.lease({ workerId: "w" }));
  const r = store.fail(b, new Error("421"), { delayMs: 60_000 });
  assert.equal(r.job.runAfter, clock.now() + 60_000);
  clock.advance(59_999);
  assert.equal(store.lease({ workerId: "w" }), null);
  clock.advance(1);
  assert.equal(leased(store.lease({ workerId: "w" })).id, b.id);
});

test("defer gives the attempt back and does not record an error", () => {
  const { store, clock } = memoryStore({ maxAttempts: 1 });
  store.enqueue({ kind: "mirror", payload: { job: "a" } });
  for (let i = 0; i < 5; i++) {
    const l = leased(store.lease({ workerId: "w" }));
    const r = store.defer(l, { delayMs: 10, reason: "remote busy" });
    assert.deepEqual([r.job.state, r.job.attempts, r.job.lastError, r.job.runAfter], ["queued", 0, null, clock.now() + 10]);
    clock.advance(10);
  }
  const l = leased(store.lease({ workerId: "w" }));
  assert.equal(store.fail(l, new Error("x")).outcome, "dead", "the single real attempt is still available");
});

test("a job returning to waiting folds into a newer waiting job with the same key", () => {
  const { store } = memoryStore();
  const key = "outbox:/out/a.csv";
  store.enqueue({ kind: "upload", payload: upload("/out/a.csv"), dedupeKey: key });
  const running = leased(store.lease({ workerId: "w" }));
  // The file changed while it uploaded: a newer job with the final size waits.
  const newer = store.enqueue({ kind: "upload", payload: { ...upload("/out/a.csv"), size: 20 }, dedupeKey: key });
  assert.equal(newer.created, true);
  const r = store.fail(running, new Error("size changed during upload"));
  assert.equal(r.mergedInto, newer.job.id);
  assert.equal(store.getJob(running.id), undefined);
  const survivor = store.getJob(newer.job.id);
  assert.ok(survivor?.kind === "upload");
  assert.deepEqual([survivor.state, survivor.attempts, survivor.payload.size, survivor.lastError], ["queued", 1, 20, "Error: size changed during upload"]);
  assert.equal(store.listJobs({ states: ["queued", "failed", "leased"] }).length, 1);
});

test("complete records transfers in the same transaction; a bad record completes nothing", () => {
  const { store, clock } = memoryStore();
  store.enqueue({ kind: "upload", payload: upload("/out/a.csv") });
  const l = leased(store.lease({ workerId: "w" }));
  assert.throws(() => store.complete(l, { transfers: [{ path: "/inbox/a.csv", bytes: -1, durationMs: 5, verified: "sha256" }] }), /transfer record: bytes: Too small/);
  assert.equal(store.getJob(l.id)?.state, "leased");
  const done = store.complete(l, { transfers: [{ path: "/inbox/a.csv", bytes: 10, durationMs: 5, verified: "sha256" }] });
  assert.deepEqual([done.state, done.finishedAt, done.leaseToken], ["done", clock.now(), null]);
  const [t] = store.transfers.list({ jobName: "outbox" });
  assert.deepEqual(t && { ...t, id: 0 }, { id: 0, jobId: l.id, jobName: "outbox", path: "/inbox/a.csv", bytes: 10, durationMs: 5, verified: "sha256", finishedAt: clock.now() });
});
