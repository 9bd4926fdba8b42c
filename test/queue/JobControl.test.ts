// Operator actions (queue.control), run against every driver (drivers.ts) through the async Queue API.
import assert from "node:assert/strict";
import { describe, it, type TestContext } from "node:test";
import { drivers, type QueueTestDriver } from "./drivers.js";
import { ManualClock } from "./helpers.js";

async function setup(driver: QueueTestDriver, t: TestContext) {
  const clock = new ManualClock();
  const store = await driver.open(t, { clock, maxAttempts: 1 });
  return { clock, store, control: store.control };
}

const mirror = (job: string) => ({ kind: "mirror" as const, payload: { job }, dedupeKey: `mirror:${job}` });

for (const driver of drivers) describe(`queue control over ${driver.name} (operator actions on a real queue)`, () => {
  it("a paused job's waiting runs are not leased; other jobs' are; resume makes them leasable", async (t) => {
    const { store, control } = await setup(driver, t);
    await store.enqueue(mirror("a"));
    const b = (await store.enqueue(mirror("b"))).job;
    assert.equal(await control.pause("a"), true);
    assert.equal(await control.pause("a"), false);
    assert.deepEqual((await control.paused()).map((p) => p.name), ["a"]);
    const first = await store.lease({ workerId: "w" });
    assert.equal(first?.status === "leased" && first.job.id, b.id);
    assert.equal(await store.lease({ workerId: "w" }), null);
    assert.equal(await control.resume("a"), true);
    assert.equal(await control.resume("a"), false);
    const second = await store.lease({ workerId: "w" });
    assert.equal(second?.status === "leased" && second.job.name, "a");
  });

  it("retryDead requeues a dead run with fresh attempts, or folds it into a waiting run of the same key", async (t) => {
    const { store, control } = await setup(driver, t);
    const died = async (job: string) => {
      const id = (await store.enqueue(mirror(job))).job.id;
      const l = await store.lease({ workerId: "w" });
      assert.ok(l?.status === "leased" && l.job.id === id);
      await store.fail(l.job, new Error("boom"));
      assert.equal((await store.getJob(id))?.state, "dead");
      return id;
    };
    const a = await died("a");
    const b = await died("b");
    const waiting = (await store.enqueue(mirror("b"))).job.id;
    assert.deepEqual((await control.dead()).map((j) => j.id), [b, a]);
    const r = await control.retryDead();
    assert.deepEqual(r, { retried: [a], folded: [{ id: b, into: waiting }] });
    const again = (await store.getJob(a))!;
    assert.deepEqual([again.state, again.attempts, again.finishedAt, again.lastError], ["queued", 0, null, "Error: boom (after 1 attempts)"]);
    assert.equal(await store.getJob(b), undefined);
    assert.deepEqual(await control.dead(), []);
  });

  it("cancelWaiting removes queued and failed runs of one job (or one id), never a leased one", async (t) => {
    const { store, control } = await setup(driver, t);
    const running = (await store.enqueue(mirror("a"))).job.id;
    assert.equal((await store.lease({ workerId: "w" }))?.job.id, running);
    const queued = (await store.enqueue(mirror("a"))).job.id;
    const other = (await store.enqueue(mirror("b"))).job.id;
    assert.deepEqual(await control.cancelWaiting({ name: "a", id: other }), []);
    assert.deepEqual((await control.cancelWaiting({ name: "a" })).map((j) => j.id), [queued]);
    assert.equal((await store.getJob(running))?.state, "leased");
    assert.equal((await store.getJob(other))?.state, "queued");
  });
});
