import { test } from "node:test";
import assert from "node:assert/strict";
import type { LeasedJob } from "../../src/queue/index.js";
import { memoryStore, upload } from "./helpers.js";

test("jobSummaries: counts by state, last success, last error and next run per job name", () => {
  const { store, clock } = memoryStore({ backoff: { baseMs: 1000, capMs: 1000, jitter: 0 } });
  const take = (): LeasedJob => {
    const r = store.lease({ workerId: "w" });
    assert.ok(r?.status === "leased");
    return r.job;
  };
  store.enqueue({ kind: "upload", payload: upload("/o/1") });
  store.enqueue({ kind: "upload", payload: upload("/o/2") });
  store.enqueue({ kind: "upload", payload: upload("/o/3") });
  store.enqueue({ kind: "mirror", payload: { job: "photos" }, runAfter: clock.now() + 5000 });
  store.complete(take(), { transfers: [{ path: "/in/1", bytes: 1, durationMs: 1, verified: "size" }] });
  const doneAt = clock.now();
  clock.advance(10);
  store.fail(take(), new Error("425 can't open data connection"));
  const failedAt = clock.now();
  take();
  clock.advance(10);
  store.enqueue({ kind: "upload", payload: upload("/o/4") });
  assert.deepEqual(store.jobSummaries(), [
    {
      name: "outbox",
      kind: "upload",
      counts: { queued: 1, leased: 1, done: 1, failed: 1, dead: 0 },
      lastSuccessAt: doneAt,
      lastError: "Error: 425 can't open data connection",
      lastErrorAt: failedAt,
      nextRunAt: failedAt + 10, // /o/4, due now, comes before /o/2's retry at failedAt + 1000
    },
    {
      name: "photos",
      kind: "mirror",
      counts: { queued: 1, leased: 0, done: 0, failed: 0, dead: 0 },
      lastSuccessAt: null,
      lastError: null,
      lastErrorAt: null,
      nextRunAt: doneAt + 5000,
    },
  ]);
});

test("transfers: listed newest first, filtered by name and job, limited", () => {
  const { store, clock } = memoryStore();
  for (let i = 0; i < 5; i++) {
    store.transfers.record({ jobId: null, jobName: i % 2 ? "b" : "a", path: `/p/${i}`, bytes: i, durationMs: 1, verified: "size" });
    clock.advance(1);
  }
  assert.deepEqual(store.transfers.list({ jobName: "a" }).map((t) => t.path), ["/p/4", "/p/2", "/p/0"]);
  assert.deepEqual(store.transfers.list({ limit: 2 }).map((t) => t.path), ["/p/4", "/p/3"]);
  assert.throws(() => store.transfers.list({ limit: 0 }), /limit must be a positive integer/);
  assert.throws(() => store.transfers.record({ jobId: null, jobName: "a", path: "", bytes: 1, durationMs: 1, verified: "size" }), /path: Too small/);
});

test("prune removes finished jobs and history past the retention, keeps the rest", () => {
  const { store, clock } = memoryStore({ maxAttempts: 1 });
  const ids = [1, 2, 3, 4].map((i) => store.enqueue({ kind: "upload", payload: upload(`/o/${i}`) }).job.id);
  const take = (): LeasedJob => {
    const r = store.lease({ workerId: "w" });
    assert.ok(r?.status === "leased");
    return r.job;
  };
  store.complete(take(), { transfers: [{ path: "/in/1", bytes: 1, durationMs: 1, verified: "size" }] });
  store.fail(take(), new Error("x"));
  clock.advance(1000);
  store.complete(take());
  clock.advance(500);
  assert.deepEqual(store.prune({ olderThanMs: 1000 }), { jobs: 2, transfers: 1 });
  assert.deepEqual(store.listJobs().map((j) => [j.id, j.state]), [[ids[3], "queued"], [ids[2], "done"]]);
  assert.deepEqual(store.prune({ olderThanMs: 1000 }), { jobs: 0, transfers: 0 });
  assert.throws(() => store.prune({ olderThanMs: -1 }), /olderThanMs must be a finite number >= 0/);
});

test("history outlives a pruned job: the link is cleared", () => {
  const { store, clock } = memoryStore();
  store.enqueue({ kind: "upload", payload: upload("/o/1") });
  const r = store.lease({ workerId: "w" });
  assert.ok(r?.status === "leased");
  store.complete(r.job, { transfers: [{ path: "/in/1", bytes: 1, durationMs: 1, verified: "size" }] });
  store.transfers.record({ jobId: null, jobName: "outbox", path: "/late", bytes: 1, durationMs: 1, verified: "size", finishedAt: clock.now() + 10_000 });
  clock.advance(2000);
  assert.deepEqual(store.prune({ olderThanMs: 1000 }), { jobs: 1, transfers: 1 });
  assert.deepEqual(store.transfers.list().map((t) => [t.path, t.jobId]), [["/late", null]]);
});
