import assert from "node:assert/strict";
import { mkdir, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { describe, it } from "node:test";
import { mirrorDedupeKey } from "../../src/daemon/index.js";
import { RetryLaterError, type JobKind, type LeasedJob } from "../../src/queue/index.js";
import { readTree } from "./harness.js";
import { startFleet, type Fleet } from "./mirrorRunHarness.js";

const ctx = { signal: new AbortController().signal, workerId: "t" };

/** 20 small files in two folders, f00…f19. */
function smallTree(): Map<string, Buffer> {
  return new Map(Array.from({ length: 20 }, (_, i) => [`${i < 10 ? "a" : "b"}/f${String(i).padStart(2, "0")}.txt`, Buffer.from(`file ${i}\n`.repeat(i + 1))]));
}

async function writeFiles(root: string, files: ReadonlyMap<string, Buffer>): Promise<void> {
  for (const [path, data] of files) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), data);
  }
}

/** Leases the next job of `kind` on node 1, or fails the test. */
function lease<K extends JobKind>(fleet: Fleet, kind: K): LeasedJob & { kind: K } {
  const r = fleet.nodes[0]!.store.lease({ workerId: "node1:t", kinds: [kind] });
  if (r?.status !== "leased") throw new Error(`no ${kind} job to lease`);
  return r.job as LeasedJob & { kind: K };
}

/** One scheduled tick, planned at once by a direct call of the plan step. */
async function planNow(fleet: Fleet): Promise<number> {
  const store = fleet.nodes[0]!.store;
  store.enqueue({ kind: "mirror", payload: { job: fleet.job.name }, dedupeKey: mirrorDedupeKey(fleet.job.name), concurrencyKey: fleet.job.remote }, { coalesceWithLeased: true });
  const job = lease(fleet, "mirror");
  await fleet.nodes[0]!.handlers.plan(job, ctx);
  store.complete(job);
  return job.id;
}

const exists = (p: string) => stat(p).then(() => true, () => false);

/** A fleet whose mirror uploads 20 files with delete on, over a server holding two extraneous entries. */
async function fleetWithStale(t: import("node:test").TestContext): Promise<{ fleet: Fleet; files: Map<string, Buffer> }> {
  const fleet = await startFleet(t, {
    job: { direction: "upload", delete: true, maxDelete: { percent: 100 } }, partLimits: { files: 5, bytes: 1 << 30 }, maxAttempts: 2,
  });
  const files = smallTree();
  await writeFiles(fleet.local, files);
  await writeFiles(fleet.remote, new Map([["stale.txt", Buffer.from("old\n")], ["old/x.txt", Buffer.from("x\n")]]));
  return { fleet, files };
}

describe("a distributed mirror run deletes only after every part succeeded", () => {
  it("the finish waits while parts remain, a tick during the run starts no second run, deletions come last", async (t) => {
    const { fleet, files } = await fleetWithStale(t);
    const store = fleet.nodes[0]!.store;
    const h = fleet.nodes[0]!.handlers;
    const run = await planNow(fleet);
    const partRows = () => fleet.rows().filter((r) => r.kind === "mirror-part");
    assert.equal(partRows().length, 4, "20 files in parts of 5");
    assert.ok(partRows().every((r) => r.kind === "mirror-part" && r.payload.run === run && r.concurrencyKey === "srv"));

    // A tick while the run is unfinished: the plan step does nothing.
    const second = await planNow(fleet);
    assert.notEqual(second, run);
    assert.equal(partRows().length, 4, "no second run's parts");
    assert.equal(fleet.rows().filter((r) => r.kind === "mirror-finish").length, 1, "no second finish");

    for (let done = 0; done <= 4; done++) {
      const finish = lease(fleet, "mirror-finish");
      if (done < 4) {
        await assert.rejects(h["mirror-finish"](finish, ctx), (err: unknown) => err instanceof RetryLaterError && err.message.includes(`${4 - done} of 4 part(s) still to do`));
        store.defer(finish);
        assert.ok(await exists(join(fleet.remote, "stale.txt")), `nothing deleted with ${4 - done} part(s) left`);
        assert.ok(await exists(join(fleet.remote, "old", "x.txt")));
        const part = lease(fleet, "mirror-part");
        const result = await h["mirror-part"](part, ctx);
        store.complete(part, { transfers: result ? result.transfers ?? [] : [] });
      } else {
        await h["mirror-finish"](finish, ctx);
        store.complete(finish);
      }
    }
    assert.deepEqual(await readTree(fleet.remote), files, "the extraneous file and folder are gone, the tree is the source's");
    assert.equal(await exists(join(fleet.remote, "old")), false);
  });

  it("a part that fails for good: the run fails naming it, nothing is deleted", async (t) => {
    const { fleet, files } = await fleetWithStale(t);
    await planNow(fleet);
    // The second part's first file vanishes after the plan: its part fails on every attempt.
    await rm(join(fleet.local, "a", "f05.txt"));
    for (const node of fleet.nodes) node.start();
    const finish = await fleet.finished();
    assert.equal(finish.state, "dead");
    assert.match(finish.lastError ?? "", /^PermanentJobError: mirror m run \d+ failed: part 1 \(job \d+: .*a\/f05\.txt: .*ENOENT.*\) failed; nothing was deleted; the next scheduled run plans again/);
    const dead = fleet.rows().filter((r) => r.kind === "mirror-part" && r.state === "dead");
    assert.deepEqual(dead.map((r) => r.kind === "mirror-part" && r.payload.part), [1]);
    assert.equal(dead[0]!.attempts, 2, "the queue retried the part before giving up");
    assert.ok(await exists(join(fleet.remote, "stale.txt")), "stale.txt kept");
    assert.ok(await exists(join(fleet.remote, "old", "x.txt")), "old/x.txt kept");
    const remote = await readTree(fleet.remote);
    for (const [path, data] of files) if (path !== "a/f05.txt") assert.deepEqual(remote.get(path), data, `${path} sent by its part`);
  });
});

describe("a plan cut short", () => {
  it("parts enqueued before a crash are not enqueued again: the retried plan waits for them, then plans what is left", async (t) => {
    let enqueues = 0;
    let crashAt = 3; // the third enqueue of the first attempt: two parts are in, the rest and the finish are not
    const fleet = await startFleet(t, {
      job: { direction: "upload" }, partLimits: { files: 5, bytes: 1 << 30 },
      wrapQueue: (q) => ({
        ...q,
        enqueue: async (input, options) => {
          if (++enqueues === crashAt) throw new Error("the node died here");
          return q.enqueue(input, options);
        },
      }),
    });
    const files = smallTree();
    await writeFiles(fleet.local, files);
    const store = fleet.nodes[0]!.store;
    const h = fleet.nodes[0]!.handlers;
    store.enqueue({ kind: "mirror", payload: { job: "m" }, dedupeKey: mirrorDedupeKey("m"), concurrencyKey: "srv" }, { coalesceWithLeased: true });
    const first = lease(fleet, "mirror");
    await assert.rejects(h.plan(first, ctx), /the node died here/);
    store.fail(first, new Error("the node died here"), { delayMs: 0 });
    crashAt = 0;
    const orphans = () => fleet.rows().filter((r) => r.kind === "mirror-part");
    assert.equal(orphans().length, 2);

    // The retry of the same job finds its own parts without a finish: it waits for them.
    const again = lease(fleet, "mirror");
    assert.equal(again.id, first.id);
    await assert.rejects(h.plan(again, ctx), (err: unknown) => err instanceof RetryLaterError && /interrupted plan/.test(err.message));
    store.defer(again);
    assert.equal(orphans().length, 2, "nothing enqueued twice");
    for (let i = 0; i < 2; i++) {
      const part = lease(fleet, "mirror-part");
      await h["mirror-part"](part, ctx);
      store.complete(part);
    }
    // Settled: the retry plans again; the files the orphans sent are unchanged now.
    const third = lease(fleet, "mirror");
    await h.plan(third, ctx);
    store.complete(third);
    const parts = orphans();
    assert.equal(parts.length, 4, "two more parts, for the ten files left");
    const sent = new Set(parts.slice(0, 2).flatMap((r) => (r.kind === "mirror-part" ? r.payload.ops.map((o) => o.path) : [])));
    const planned = parts.slice(2).flatMap((r) => (r.kind === "mirror-part" ? r.payload.ops.map((o) => o.path) : []));
    assert.equal(planned.length, 10);
    assert.ok(planned.every((p) => !sent.has(p)), "no file of the orphans planned again");
    for (const node of fleet.nodes) node.start();
    const finish = await fleet.finished();
    assert.equal(finish.state, "done", finish.lastError ?? "");
    assert.deepEqual(await readTree(fleet.remote), files);
    assert.equal(fleet.transfers.filter((x) => x.verb === "STOR").length, 20, "each file sent once");
  });
});
