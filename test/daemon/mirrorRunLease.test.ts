import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { it } from "node:test";
import { mirrorDedupeKey } from "../../src/daemon/index.js";
import type { LeasedJob } from "../../src/queue/index.js";
import { readTree } from "./harness.js";
import { bigTree, startFleet } from "./mirrorRunHarness.js";

it("a part whose node dies holding it is recovered when its lease expires and redone by the other node; the finish waits for it", async (t) => {
  const fleet = await startFleet(t, { job: { direction: "upload" }, partLimits: { files: 10, bytes: 1 << 30 } });
  const files = bigTree(40, 5);
  for (const [path, data] of files) {
    await mkdir(dirname(join(fleet.local, path)), { recursive: true });
    await writeFile(join(fleet.local, path), data);
  }
  const [dying, survivor] = fleet.nodes as [typeof fleet.nodes[0], typeof fleet.nodes[0]];
  // Node 1 plans the run, then takes a part with a short lease and dies before finishing it.
  dying.store.enqueue({ kind: "mirror", payload: { job: "m" }, dedupeKey: mirrorDedupeKey("m"), concurrencyKey: "srv" }, { coalesceWithLeased: true });
  const plan = dying.store.lease({ workerId: "node1:w1", kinds: ["mirror"] });
  assert.equal(plan?.status, "leased");
  await dying.handlers.plan(plan.job as LeasedJob & { kind: "mirror" }, { signal: new AbortController().signal, workerId: "node1:w1" });
  dying.store.complete(plan.job);
  const held = dying.store.lease({ workerId: "node1:w1", kinds: ["mirror-part"], leaseMs: 500 });
  assert.equal(held?.status, "leased");
  const heldId = held.job.id;
  // It sends the part's ten files, then dies before recording the part done.
  await dying.handlers["mirror-part"](held.job as LeasedJob & { kind: "mirror-part" }, { signal: new AbortController().signal, workerId: "node1:w1" });
  assert.equal(fleet.transfers.length, 10);

  const expired: number[] = [];
  const waitsOfFinish: string[] = [];
  survivor.start({
    listen: (runner) => {
      runner.on("lease:expired", ({ job }) => expired.push(job.id));
      // What the finish said each time it looked too early, and whether the lost part was done then.
      runner.on("job:deferred", ({ job, reason }) => {
        if (job.kind === "mirror-finish") waitsOfFinish.push(`${reason}; lost part ${survivor.store.getJob(heldId)!.state}`);
      });
    },
  });
  const finish = await fleet.finished();

  assert.equal(finish.state, "done", finish.lastError ?? "");
  assert.deepEqual(expired, [heldId], "the dead node's part came back through the lease recovery");
  const redone = survivor.store.getJob(heldId)!;
  assert.equal(redone.state, "done");
  assert.equal(redone.attempts, 2, "the lost lease counted as an attempt, the survivor's run as the second");
  assert.ok(waitsOfFinish.some((r) => /\d of 4 part\(s\) still to do; lost part (failed|queued|leased)$/.test(r)), `the finish waited for the lost part: ${JSON.stringify(waitsOfFinish)}`);
  assert.ok(finish.finishedAt! >= redone.finishedAt!, "the finish completed after the redone part");
  assert.deepEqual(await readTree(fleet.remote), files);
  assert.equal(fleet.transfers.filter((x) => x.verb === "STOR").length, 40, "each file sent once: the retry found the dead node's files in place");
});
