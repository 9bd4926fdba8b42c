import { test } from "node:test";
import assert from "node:assert/strict";
import pg from "pg";
import { FleetSetupError, formatNodes, LocalNodes, NodeIdInUseError, NodeTakenOverError, PgNodes, type NodeStatus } from "../../src/fleet/index.js";
import { startFleetDb, until } from "./fleetDb.js";

/** A manual clock and heartbeat timer. */
function fakeTime(start = 1_700_000_000_000) {
  let now = start;
  const timers: (() => void)[] = [];
  return {
    clock: () => now,
    advance: (ms: number) => (now += ms),
    every: (_ms: number, fn: () => void) => {
      timers.push(fn);
      return () => timers.splice(timers.indexOf(fn), 1);
    },
    fire: () => timers.forEach((fn) => fn()),
    timers: () => timers.length,
  };
}

async function pool(t: import("node:test").TestContext, url: string): Promise<pg.Pool> {
  const p = new pg.Pool({ connectionString: url, max: 2 });
  t.after(() => p.end());
  return p;
}

const timing = { heartbeatMs: 1000, leaseMs: 2000 }; // lost after 3 s

test("nodes: register, heartbeat through the timer, list with leases held, lost after the threshold", async (t) => {
  const db = await startFleetDb(t);
  if (!db) return;
  const time = fakeTime();
  const p = await pool(t, db.url);
  const a = new PgNodes({ pool: p, clock: time.clock, every: time.every, ...timing });
  const b = new PgNodes({ pool: p, clock: time.clock, every: time.every, ...timing });
  const t0 = time.clock();
  await a.register({ id: "node-a", host: "host-a", pid: 101, version: "1.2.0" });
  time.advance(500);
  await b.register({ id: "node-b", host: "host-b", pid: 202, version: "1.2.0" });
  assert.equal(time.timers(), 2);
  await db.admin.query(`INSERT INTO jobs (state, lease_owner) VALUES
    ('leased', 'node-a:101:worker-1'), ('leased', 'node-a:101:worker-2'), ('queued', NULL),
    ('done', 'node-a:101:worker-1'), ('leased', 'node-ab:9:worker-1'), ('leased', 'node-b:202:worker-1')`);

  let list = await a.list();
  assert.deepEqual(list.map((n) => [n.id, n.host, n.pid, n.startedAt, n.lastHeartbeatAt, n.leases, n.lost]), [
    ["node-a", "host-a", 101, t0, t0, 2, false],
    ["node-b", "host-b", 202, t0 + 500, t0 + 500, 1, false],
  ]);

  // Only A's heartbeats keep coming (B's process is gone, its timer silent).
  time.advance(2400);
  await a.heartbeat();
  list = await b.list();
  assert.deepEqual(list.map((n) => [n.id, n.lastHeartbeatAt, n.lost]), [["node-a", t0 + 2900, false], ["node-b", t0 + 500, false]]);
  time.advance(600); // B: 3000 ms since its last heartbeat
  list = await a.list();
  assert.deepEqual(list.map((n) => [n.id, n.lost]), [["node-a", false], ["node-b", true]]);

  // The timer's tick renews A's heartbeat (and B's: both timers fire here).
  time.advance(100);
  time.fire();
  const after = await until(async () => (await a.list()).find((n) => n.id === "node-a")!.lastHeartbeatAt === t0 + 3600);
  assert.ok(after);
  await a.close();
  await b.close();
  list = await a.list();
  assert.deepEqual(list.map((n) => [n.id, n.stoppedAt, n.lost]), [["node-a", t0 + 3600, false], ["node-b", t0 + 3600, false]]);
  assert.equal(time.timers(), 0);
});

test("nodes: a second live daemon under the same node id is refused; a lost one's id can be taken over", async (t) => {
  const db = await startFleetDb(t);
  if (!db) return;
  const time = fakeTime();
  const p = await pool(t, db.url);
  const taken: NodeTakenOverError[] = [];
  const first = new PgNodes({ pool: p, clock: time.clock, every: time.every, onTakenOver: (e) => taken.push(e), ...timing });
  await first.register({ id: "edge", host: "box-1", pid: 10, version: "1" });
  time.advance(2999);
  const second = new PgNodes({ pool: p, clock: time.clock, every: time.every, ...timing });
  await assert.rejects(second.register({ id: "edge", host: "box-2", pid: 20, version: "1" }), (e: unknown) =>
    e instanceof NodeIdInUseError && e.otherHost === "box-1" && e.otherPid === 10 && /node id "edge" is in use by a live daemon on box-1 \(pid 10/.test(e.message) && /own `node:`/.test(e.message));
  // The refused start left the row alone.
  assert.deepEqual((await first.list()).map((n) => [n.host, n.pid]), [["box-1", 10]]);

  time.advance(1); // the first is lost now: a new start may take the id
  const third = new PgNodes({ pool: p, clock: time.clock, every: time.every, ...timing });
  await third.register({ id: "edge", host: "box-3", pid: 30, version: "1" });
  await assert.rejects(first.heartbeat(), (e: unknown) => e instanceof NodeTakenOverError && /taken over by another daemon on box-3 \(pid 30\)/.test(e.message));
  time.fire(); // the first's timer: reports the takeover once and stops beating
  assert.ok(await until(() => taken.length === 1));
  await third.heartbeat();
  assert.deepEqual((await third.list()).map((n) => [n.host, n.pid, n.lost]), [["box-3", 30, false]]);
  await third.close();
  await first.close();
});

test("nodes: the same host and pid may register again at once (a restarted container); a clean stop frees the id", async (t) => {
  const db = await startFleetDb(t);
  if (!db) return;
  const time = fakeTime();
  const p = await pool(t, db.url);
  const a = new PgNodes({ pool: p, clock: time.clock, every: time.every, ...timing });
  await a.register({ id: "c", host: "ctr", pid: 1, version: "1" });
  const again = new PgNodes({ pool: p, clock: time.clock, every: time.every, ...timing });
  await again.register({ id: "c", host: "ctr", pid: 1, version: "2" });
  assert.deepEqual((await again.list()).map((n) => n.version), ["2"]);
  await again.close();
  const other = new PgNodes({ pool: p, clock: time.clock, every: time.every, ...timing });
  await other.register({ id: "c", host: "elsewhere", pid: 7, version: "2" });
  await other.close();
  await a.close();
});

test("nodes: two starts of one id at the same moment: exactly one wins", async (t) => {
  const db = await startFleetDb(t);
  if (!db) return;
  const time = fakeTime();
  const [p1, p2] = [await pool(t, db.url), await pool(t, db.url)];
  const n1 = new PgNodes({ pool: p1, clock: time.clock, every: time.every, ...timing });
  const n2 = new PgNodes({ pool: p2, clock: time.clock, every: time.every, ...timing });
  const results = await Promise.allSettled([n1.register({ id: "x", host: "h1", pid: 1, version: "1" }), n2.register({ id: "x", host: "h2", pid: 2, version: "1" })]);
  assert.deepEqual(results.map((r) => r.status).sort(), ["fulfilled", "rejected"]);
  const refused = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
  assert.ok(refused.reason instanceof NodeIdInUseError);
  await n1.close();
  await n2.close();
});

test("nodes: without the fleet migration, a clear error names it", async (t) => {
  const db = await startFleetDb(t);
  if (!db) return;
  const bare = await db.cluster.createDatabase(`${db.name}_bare`);
  const p = await pool(t, bare);
  const n = new PgNodes({ pool: p });
  await assert.rejects(n.list(), (e: unknown) => e instanceof FleetSetupError && /migrations\/postgres/.test(e.message));
  await assert.rejects(n.register({ id: "x", host: "h", pid: 1, version: "1" }), FleetSetupError);
});

test("nodes: the lost threshold is at least the lease time and longer than a heartbeat", () => {
  const p = {} as pg.Pool;
  assert.throws(() => new PgNodes({ pool: p, heartbeatMs: 0 }), /heartbeat interval must be > 0/);
  assert.throws(() => new PgNodes({ pool: p, heartbeatMs: 5000, lostAfterMs: 5000 }), /must be longer than the heartbeat interval/);
});

test("nodes (local): this one process, with its leases from the queue", async () => {
  const time = fakeTime();
  const local = new LocalNodes({ clock: time.clock, countLeases: async () => 3 });
  assert.deepEqual(await local.list(), []);
  await local.register({ id: "edge", host: "box", pid: 5, version: "1" });
  await assert.rejects(local.register({ id: "edge", host: "box", pid: 5, version: "1" }), /registered already/);
  time.advance(10_000);
  const [self] = await local.list();
  assert.deepEqual(self, { id: "edge", host: "box", pid: 5, version: "1", startedAt: time.clock() - 10_000, lastHeartbeatAt: time.clock(), leases: 3, lost: false, stoppedAt: undefined });
  await local.close();
  assert.equal((await local.list())[0]?.stoppedAt, time.clock());
  assert.equal((await new LocalNodes().list()).length, 0);
});

test("formatNodes: up, lost and stopped nodes", () => {
  const now = 1_700_000_100_000;
  const base = { host: "h", pid: 1, version: "1.0", startedAt: 1_700_000_000_000, stoppedAt: undefined };
  const nodes: NodeStatus[] = [
    { ...base, id: "a", lastHeartbeatAt: now - 2000, leases: 4, lost: false },
    { ...base, id: "b", lastHeartbeatAt: now - 90_000, leases: 2, lost: true },
    { ...base, id: "c", lastHeartbeatAt: now - 60_000, leases: 0, lost: false, stoppedAt: now - 60_000 },
    { ...base, id: "d", lastHeartbeatAt: now, leases: undefined, lost: false },
  ];
  const rows: { title: string; input: NodeStatus[]; expected: string[] }[] = [
    { title: "none", input: [], expected: [] },
    {
      title: "mixed", input: nodes, expected: [
        "nodes: 2 up, 1 LOST, 1 stopped",
        "  a (h, pid 1, 1.0): up since 2023-11-14T22:13:20.000Z, last heartbeat 2 s ago, 4 leases held",
        "  b (h, pid 1, 1.0): LOST, last heartbeat 90 s ago, 2 leases held (they return to the queue when they expire)",
        "  c (h, pid 1, 1.0): stopped 60 s ago",
        "  d (h, pid 1, 1.0): up since 2023-11-14T22:13:20.000Z, last heartbeat 0 ms ago",
      ],
    },
  ];
  for (const r of rows) assert.deepEqual(formatNodes(r.input, now), r.expected, r.title);
});
