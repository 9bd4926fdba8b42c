import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { JobControl, JobStore, openDatabase } from "../../src/queue/index.js";
import { ManualClock } from "./helpers.js";

function setup() {
  const clock = new ManualClock();
  const db = openDatabase(":memory:", { now: () => clock.now() });
  const store = new JobStore(db, { clock, maxAttempts: 1 });
  return { clock, db, store, control: new JobControl(db, { clock }) };
}

const mirror = (job: string) => ({ kind: "mirror" as const, payload: { job }, dedupeKey: `mirror:${job}` });

describe("JobControl (operator actions on a real SQLite queue)", () => {
  it("a paused job's waiting runs are not leased; other jobs' are; resume makes them leasable", () => {
    const { store, control } = setup();
    store.enqueue(mirror("a"));
    const b = store.enqueue(mirror("b")).job;
    assert.equal(control.pause("a"), true);
    assert.equal(control.pause("a"), false);
    assert.deepEqual(control.paused().map((p) => p.name), ["a"]);
    const first = store.lease({ workerId: "w" });
    assert.equal(first?.status === "leased" && first.job.id, b.id);
    assert.equal(store.lease({ workerId: "w" }), null);
    assert.equal(control.resume("a"), true);
    assert.equal(control.resume("a"), false);
    const second = store.lease({ workerId: "w" });
    assert.equal(second?.status === "leased" && second.job.name, "a");
  });

  it("retryDead requeues a dead run with fresh attempts, or folds it into a waiting run of the same key", () => {
    const { store, control } = setup();
    const died = (job: string) => {
      const id = store.enqueue(mirror(job)).job.id;
      const l = store.lease({ workerId: "w" });
      assert.ok(l?.status === "leased" && l.job.id === id);
      store.fail(l.job, new Error("boom"));
      assert.equal(store.getJob(id)?.state, "dead");
      return id;
    };
    const a = died("a");
    const b = died("b");
    const waiting = store.enqueue(mirror("b")).job.id;
    assert.deepEqual(control.dead().map((j) => j.id), [b, a]);
    const r = control.retryDead();
    assert.deepEqual(r, { retried: [a], folded: [{ id: b, into: waiting }] });
    const again = store.getJob(a)!;
    assert.deepEqual([again.state, again.attempts, again.finishedAt, again.lastError], ["queued", 0, null, "Error: boom (after 1 attempts)"]);
    assert.equal(store.getJob(b), undefined);
    assert.deepEqual(control.dead(), []);
  });

  it("cancelWaiting removes queued and failed runs of one job (or one id), never a leased one", () => {
    const { store, control } = setup();
    const running = store.enqueue(mirror("a")).job.id;
    assert.equal(store.lease({ workerId: "w" })?.job.id, running);
    const queued = store.enqueue(mirror("a")).job.id;
    const other = store.enqueue(mirror("b")).job.id;
    assert.deepEqual(control.cancelWaiting({ name: "a", id: other }), []);
    assert.deepEqual(control.cancelWaiting({ name: "a" }).map((j) => j.id), [queued]);
    assert.equal(store.getJob(running)?.state, "leased");
    assert.equal(store.getJob(other)?.state, "queued");
  });
});
