import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { silentLogger } from "../../src/log/index.js";
import { WorkerRunner } from "../../src/queue/index.js";
import { drivers } from "./drivers.js";
import { tick, until, upload } from "./helpers.js";

/** A promise with its resolve exposed. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}

// A lane of the worker runner (the daemon's outbox, issue 13): its kinds are leased by a loop
// of their own, more at once than the workers, under the lane's own per-key caps.
for (const driver of drivers) describe(`WorkerRunner lanes over ${driver.name}`, () => {
  test("a lane runs its kind up to its concurrency and key caps, beside the workers, which never take that kind", async (t) => {
    const store = await driver.open(t);
    for (let i = 0; i < 7; i++) await store.enqueue({ kind: "upload", payload: upload(`/a/${i}`), concurrencyKey: "outbox:a" });
    for (let i = 0; i < 3; i++) await store.enqueue({ kind: "upload", payload: upload(`/b/${i}`), concurrencyKey: "outbox:b" });
    await store.enqueue({ kind: "mirror", payload: { job: "m" }, concurrencyKey: "a" });
    const release = gate();
    const uploads = new Map<string, number>(); // running per key
    let peakA = 0;
    const owners = new Set<string>();
    let mirrorRan = false;
    const runner = new WorkerRunner(store, {
      pollIntervalMs: 5, logger: silentLogger(), concurrency: 1, keyLimits: { a: 1 },
      lanes: [{ name: "outbox", kinds: ["upload"], concurrency: 6, keyLimits: { "outbox:a": 4, "outbox:b": 4 } }],
      handlers: {
        upload: async (job, ctx) => {
          const key = job.payload.path.split("/")[1]!;
          uploads.set(key, (uploads.get(key) ?? 0) + 1);
          peakA = Math.max(peakA, uploads.get("a") ?? 0);
          owners.add(ctx.workerId);
          await release.promise;
          uploads.set(key, uploads.get(key)! - 1);
        },
        mirror: async () => {
          mirrorRan = true;
        },
      },
    });
    runner.start();
    t.after(() => runner.stop(0));
    // Six at once (the lane's concurrency), at most four for key a: four of a and two of b.
    await until(() => (uploads.get("a") ?? 0) + (uploads.get("b") ?? 0) === 6, "six uploads running");
    await tick();
    assert.equal(uploads.get("a"), 4);
    assert.equal(uploads.get("b"), 2);
    // The one worker is free for the mirror job although six uploads run.
    await until(() => mirrorRan, "the mirror job ran on the worker");
    assert.ok([...owners].every((o) => /:outbox-[1-6]$/.test(o)), [...owners].join(", "));
    release.open();
    await until(async () => (await store.listJobs({ states: ["done"] })).length === 11, "all eleven done");
    assert.equal(peakA, 4);
    assert.deepEqual(await runner.stop(1000), { aborted: 0 });
  });

  test("stop waits for the lane's running jobs, and a lane naming a kind without a handler is refused", async (t) => {
    const store = await driver.open(t);
    await store.enqueue({ kind: "upload", payload: upload("/x") });
    const release = gate();
    let started = false;
    const runner = new WorkerRunner(store, {
      pollIntervalMs: 5, logger: silentLogger(),
      lanes: [{ name: "outbox", kinds: ["upload"], concurrency: 2 }],
      handlers: { upload: async () => { started = true; await release.promise; } },
    });
    runner.start();
    await until(() => started, "the upload started");
    let stopped = false;
    const stopping = runner.stop(5000).then((r) => { stopped = true; return r; });
    await tick();
    assert.equal(stopped, false, "stop waits for the running lane job");
    release.open();
    assert.deepEqual(await stopping, { aborted: 0 });
    assert.deepEqual((await store.listJobs({ states: ["done"] })).length, 1);
    assert.throws(() => new WorkerRunner(store, { handlers: { mirror: async () => undefined }, lanes: [{ name: "x", kinds: ["upload"], concurrency: 1 }] }), /no handler/);
  });
});
