import assert from "node:assert/strict";
import { writeFile, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { startPostgres } from "../helpers/postgres.js";
import { waitUntil } from "../daemon/harness.js";
import { clientPortsOf, Fleet, fleetFeaturesPresent, isOwnedBy, makeSmallTree, MIRROR, TARGET, type JobRow, type KillRecord } from "./fleetHarness.js";
import type { PathCounts } from "./fleetHarnessSessions.js";

// Several `ferry daemon` processes on one queue mirror a shared folder to ferry's server
// (issue 16 part 5), through the session counter of fleetHarnessSessions.ts: the server
// allows CAP control connections in all (one more gets 421 and is counted as a refusal).
// (a) and (a2) run on any build: one node on its SQLite queue, (a2) killed and restarted.
// (b) and (c) need the fleet (Postgres queue, `node:`, fleet-wide connection caps, split
// mirror runs): they run when the build has it (fleetFeaturesPresent) or FERRY_FLEET_TESTS=1
// forces them; then a missing Postgres fails them under CI=true (startPostgres), never skips.
// FERRY_FLEET_FILES (5000) and FERRY_FLEET_RESTART_FILES (1000) size the trees of (b) and (c).

const FLEET = process.env.FERRY_FLEET_TESTS === "1" || fleetFeaturesPresent();
const NEEDS_FLEET = FLEET ? false : "needs the Postgres fleet merge (issue 16): the config has no `node:` or src/queue/postgres/ is missing";
/** The server allows this many control connections in all; every node has `connections: CAP`. */
const CAP = 8;
/** leaseTimeout of every node in (b) and (c): a dead node's jobs must be back within it. */
const LEASE_MS = 5000;

/**
 * Every file under TARGET was published exactly once under its final name and stored once,
 * except the files a kill cut: those may be stored and published again (or have their one
 * publish unseen, when the 250 died with the node) — the tree check proves they ended right.
 */
function assertOncePerFile(counts: ReadonlyMap<string, PathCounts>, files: number, kills: readonly KillRecord[]): void {
  const cut = new Set(kills.flatMap((k) => [...k.cut]));
  const paths = [...counts].filter(([p]) => p.startsWith(`${TARGET}/`));
  assert.ok(paths.length >= files - cut.size, `publishes seen for ${paths.length} paths, want ${files}`);
  const wrong = paths.filter(([p, c]) => (cut.has(p) ? c.publishes > 2 || c.stores > 2 : c.publishes !== 1 || c.stores !== 1));
  assert.deepEqual(wrong.slice(0, 10), [], `${wrong.length} paths not stored and published exactly once (cut by the kill: ${cut.size})`);
}

/** No tick started two runs: the plan jobs (kind "mirror") of MIRROR, grouped by the second they were queued in. */
function assertOneRunPerTick(jobs: readonly JobRow[]): void {
  // The plan job is the run's first: kind "mirror" (or "mirror-plan"); its parts and finish are other kinds.
  const plans = jobs.filter((j) => j.name === MIRROR && (j.kind === "mirror" || j.kind === "mirror-plan"));
  assert.ok(plans.length >= 1, "no run of the mirror was queued");
  const perTick = new Map<number, number[]>();
  for (const p of plans) perTick.set(Math.floor(p.createdAt / 1000), [...(perTick.get(Math.floor(p.createdAt / 1000)) ?? []), p.id]);
  const twice = [...perTick].filter(([, ids]) => ids.length > 1);
  assert.deepEqual(twice, [], "a tick queued more than one run");
}

function assertNoDeadJobs(jobs: readonly JobRow[]): void {
  const dead = jobs.filter((j) => j.state === "dead");
  assert.deepEqual(dead.map((j) => `${j.id} ${j.kind}: ${j.lastError}`), []);
}

/** The target holds three stale files: the mirror's deletions must remove them (after every part succeeded). */
async function addStaleFiles(fleet: Fleet): Promise<void> {
  await mkdir(join(fleet.server.root, TARGET, "gone"), { recursive: true });
  for (const n of ["stale-1.bin", "stale-2.bin", "gone/stale-3.bin"]) await writeFile(join(fleet.server.root, TARGET, n), "old\n");
}

/** A fresh Postgres database for one test, or undefined when skipped (startPostgres fails under CI instead). */
async function postgresFor(t: TestContext): Promise<{ url: string; stop: () => Promise<void>; start: () => Promise<void>; close: () => Promise<void> } | undefined> {
  const cluster = await startPostgres(t);
  if (!cluster) return undefined;
  try {
    return { url: await cluster.createDatabase("ferry"), stop: () => cluster.stop(), start: () => cluster.start(), close: () => cluster.close() };
  } catch (err) {
    await cluster.close();
    throw err;
  }
}

/** Registers one after-hook that runs the closers last-in first-out (the fleet stops before its database). */
function cleanupStack(t: TestContext): (close: () => Promise<void>) => void {
  const stack: (() => Promise<void>)[] = [];
  t.after(async () => {
    for (const close of stack.reverse()) await close();
  });
  return (close) => {
    stack.push(close);
  };
}

describe("several ferry daemons mirror one tree (issue 16)", () => {
  it("(a) one node on SQLite mirrors 300 files: every file correct, stored and published once, sessions within the server's cap", { timeout: 120_000 }, async (t) => {
    const files = 300;
    const fleet = await Fleet.create({ nodes: 1, connections: CAP, serverCap: CAP }, (src) => makeSmallTree(src, files));
    t.after(() => fleet.close());
    await addStaleFiles(fleet);
    await fleet.startAll();
    await fleet.waitForTree(files, { timeoutMs: 60_000 });
    await fleet.waitForRuns({ before: Date.now(), timeoutMs: 30_000 });
    assertNoDeadJobs(await fleet.jobs());
    assertOncePerFile(fleet.pathCounts(), files, []);
    assertOneRunPerTick(await fleet.jobs());
    assert.ok(fleet.counter.peak >= 1 && fleet.counter.peak <= CAP, `peak sessions ${fleet.counter.peak}`);
    assert.equal(fleet.counter.refusals, 0, "a connection beyond the server's cap was tried");
  });

  it("(a2) one node on SQLite SIGKILLed mid-run and restarted: the run completes, only the cut files are stored again", { timeout: 180_000 }, async (t) => {
    const files = 200;
    const fleet = await Fleet.create({ nodes: 1, connections: CAP, serverCap: CAP }, (src) => makeSmallTree(src, files));
    t.after(() => fleet.close());
    await fleet.startAll();
    await waitUntil(() => fleet.publishedCount() >= files / 3, { timeoutMs: 60_000, what: "a third of the files published", onTimeout: () => fleet.describe() });
    const kill = await fleet.kill(0);
    assert.ok(kill.sessions.length > 0, "the node had no session open at the kill: it cut nothing");
    assert.ok(kill.leases.length > 0, "the node held no lease at the kill");
    await fleet.startNode(0);
    await fleet.waitForTree(files, { timeoutMs: 90_000 });
    await fleet.waitForRuns({ before: Date.now(), timeoutMs: 30_000 });
    assertNoDeadJobs(await fleet.jobs());
    assertOncePerFile(fleet.pathCounts(), files, fleet.kills);
    assert.ok(fleet.counter.peak <= CAP, `peak sessions ${fleet.counter.peak}`);
    assert.equal(fleet.counter.refusals, 0, "a connection beyond the server's cap was tried");
  });

  it("(b) three nodes on one Postgres queue, one SIGKILLed mid-run: every file once and correct, leases back, the cap held fleet-wide, one run per tick", { skip: NEEDS_FLEET, timeout: 600_000 }, async (t) => {
    const cleanup = cleanupStack(t);
    const db = await postgresFor(t);
    if (!db) return;
    cleanup(db.close);
    const files = Number(process.env.FERRY_FLEET_FILES ?? 5000);
    const fleet = await Fleet.create({ nodes: 3, database: db.url, connections: CAP, serverCap: CAP, leaseTimeout: `${LEASE_MS}ms` }, (src) => makeSmallTree(src, files));
    cleanup(() => fleet.close());
    await addStaleFiles(fleet);
    await fleet.startAll();
    // Kill a node that is working, once a third of the tree is across and the work is shared.
    let busy: number[] = [];
    await waitUntil(() => {
      if (fleet.publishedCount() < files / 3) return false;
      busy = fleet.nodes.map((n) => clientPortsOf(n.pid, fleet.counter.port).size);
      return busy.filter((b) => b > 0).length >= 2;
    }, { timeoutMs: 120_000, what: "a third of the files published with two nodes or more connected", onTimeout: () => `published ${fleet.publishedCount()} of ${files}; sessions per node: ${busy.join(", ")}\n${fleet.describe()}` });
    const victim = busy.indexOf(Math.max(...busy));
    const kill = await fleet.kill(victim);
    assert.ok(kill.sessions.length > 0, `${kill.node} had no session open at the kill: it cut nothing`);
    // Its leases come back within the lease timeout: each expires at most LEASE_MS after the
    // node's last heartbeat, and a survivor's sweep (every leaseTimeout, WorkerRunner) returns
    // it within one more; a second more for a loaded machine.
    let stuck: JobRow[] = [];
    await waitUntil(async () => (stuck = (await fleet.jobs()).filter((j) => j.state === "leased" && isOwnedBy(j, kill.node, kill.pid))).length === 0,
      { timeoutMs: 2 * LEASE_MS + 1000 - (Date.now() - kill.at), what: `the leases of the killed ${kill.node} to return`, onTimeout: () => JSON.stringify(stuck) });
    await fleet.waitForTree(files, { timeoutMs: 180_000 });
    await fleet.waitForRuns({ before: Date.now(), timeoutMs: 60_000 });
    assertNoDeadJobs(await fleet.jobs());
    assertOncePerFile(fleet.pathCounts(), files, fleet.kills);
    assertOneRunPerTick(await fleet.jobs());
    // The counter admits at most CAP, so the peak cannot show an excess: a refusal does (a
    // fleet whose nodes each keep their own 8 gets 421s here).
    assert.ok(fleet.counter.peak <= CAP, `the fleet had ${fleet.counter.peak} sessions open at once; the server allows ${CAP}`);
    assert.equal(fleet.counter.refusals, 0, "the fleet tried a connection beyond the server's cap");
    assert.deepEqual(fleet.nodes.filter((n) => n.index !== victim && !n.running).map((n) => n.name), [], "a survivor exited");
  });

  it("(c) Postgres restarts mid-run: the daemons reconnect and finish, nothing lost", { skip: NEEDS_FLEET, timeout: 300_000 }, async (t) => {
    const cleanup = cleanupStack(t);
    const db = await postgresFor(t);
    if (!db) return;
    cleanup(db.close);
    const files = Number(process.env.FERRY_FLEET_RESTART_FILES ?? 1000);
    const fleet = await Fleet.create({ nodes: 2, database: db.url, connections: CAP, serverCap: CAP, leaseTimeout: `${LEASE_MS}ms` }, (src) => makeSmallTree(src, files));
    cleanup(() => fleet.close());
    await fleet.startAll();
    await waitUntil(() => fleet.publishedCount() >= files / 3, { timeoutMs: 120_000, what: "a third of the files published", onTimeout: () => fleet.describe() });
    assert.ok(fleet.publishedCount() < files, "the run was over before the restart");
    await db.stop();
    await db.start();
    await fleet.waitForTree(files, { timeoutMs: 180_000 });
    await fleet.waitForRuns({ before: Date.now(), timeoutMs: 60_000 });
    assertNoDeadJobs(await fleet.jobs());
    // Nothing lost: every file arrived (waitForTree) and none was dropped unseen.
    const counts = fleet.pathCounts();
    const unpublished = [...counts].filter(([p, c]) => p.startsWith(`${TARGET}/`) && c.publishes === 0).map(([p]) => p);
    assert.deepEqual(unpublished, []);
    assert.deepEqual(fleet.nodes.filter((n) => !n.running).map((n) => n.name), [], "a daemon exited over the restart");
  });
});
