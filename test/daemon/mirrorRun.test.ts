import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { describe, it } from "node:test";
import { mirrorDedupeKey } from "../../src/daemon/index.js";
import { readTree, waitUntil } from "./harness.js";
import { bigTree, startFleet, type Fleet } from "./mirrorRunHarness.js";

/** Writes path → bytes under root. */
async function writeFiles(root: string, files: ReadonlyMap<string, Buffer>): Promise<void> {
  for (const [path, data] of files) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), data);
  }
}

/** Queues one scheduled run of the fleet's mirror, as the scheduler does. */
function tick(fleet: Fleet): void {
  fleet.nodes[0]!.store.enqueue({ kind: "mirror", payload: { job: fleet.job.name }, dedupeKey: mirrorDedupeKey(fleet.job.name), concurrencyKey: fleet.job.remote }, { coalesceWithLeased: true });
}

/** Part rows of the queue. */
function parts(fleet: Fleet) {
  return fleet.rows().filter((r) => r.kind === "mirror-part");
}

describe("a distributed mirror run: parts any node may lease", () => {
  it("an upload of 200 files over two nodes: the tree byte for byte, every file sent once, both nodes at work", async (t) => {
    const fleet = await startFleet(t, { job: { direction: "upload" }, partLimits: { files: 15, bytes: 512 * 1024 } });
    const files = bigTree(200);
    await writeFiles(fleet.local, files);
    const ran = new Map<string, number>();
    for (const node of fleet.nodes) {
      node.start({ listen: (r) => r.on("job:succeeded", ({ job }) => { if (job.kind === "mirror-part") ran.set(node.name, (ran.get(node.name) ?? 0) + 1); }) });
    }
    tick(fleet);
    const finish = await fleet.finished();
    assert.equal(finish.state, "done", finish.lastError ?? "");
    assert.deepEqual(await readTree(fleet.remote), files);
    const stors = fleet.transfers.filter((x) => x.verb === "STOR");
    assert.equal(stors.length, 200, "one STOR per file, none repeated");
    const p = parts(fleet);
    assert.ok(p.length >= 14, `the run was cut into parts (${p.length})`);
    assert.ok(p.every((r) => r.state === "done" && r.attempts === 1));
    assert.equal(fleet.nodes[0]!.store.transfers.list({ jobName: "m", limit: 1000 }).length, 200, "each file in the history once");
    assert.deepEqual([...ran.keys()].sort(), ["node1", "node2"], `both nodes ran parts: ${JSON.stringify([...ran])}`);
    assert.equal([...ran.values()].reduce((a, b) => a + b, 0), p.length);

    // Nothing changed: the next run plans no part and sends nothing.
    tick(fleet);
    await waitForRuns(fleet, 2);
    assert.equal(parts(fleet).length, p.length);
    assert.equal(fleet.transfers.length, 200);
  });

  it("a download of 200 files over two nodes: the tree byte for byte, every file fetched once", async (t) => {
    const fleet = await startFleet(t, { job: { direction: "download" }, partLimits: { files: 15, bytes: 512 * 1024 } });
    const files = bigTree(200, 77);
    await writeFiles(fleet.remote, files);
    for (const node of fleet.nodes) node.start();
    tick(fleet);
    const finish = await fleet.finished();
    assert.equal(finish.state, "done", finish.lastError ?? "");
    assert.deepEqual(await readTree(fleet.local), files);
    assert.equal(fleet.transfers.filter((x) => x.verb === "RETR").length, 200, "one RETR per file");
    assert.ok(parts(fleet).length >= 14);
  });
});

/** Waits until `n` finishes are settled. */
async function waitForRuns(fleet: Fleet, n: number): Promise<void> {
  await waitUntil(() => fleet.rows().filter((r) => r.kind === "mirror-finish" && (r.state === "done" || r.state === "dead")).length >= n,
    { timeoutMs: 20_000, what: `${n} finished runs` });
}
