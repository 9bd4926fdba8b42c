import { test } from "node:test";
import assert from "node:assert/strict";
import pg from "pg";
import { LocalTicks, openFleet, PgTicks } from "../../src/fleet/index.js";
import { startFleetDb } from "./fleetDb.js";

test("ticks: three nodes racing on the same ticks: exactly one claim per tick", async (t) => {
  const db = await startFleetDb(t);
  if (!db) return;
  const pools = [0, 1, 2].map(() => new pg.Pool({ connectionString: db.url, max: 2 }));
  t.after(() => Promise.all(pools.map((p) => p.end())));
  const claimers = pools.map((pool) => new PgTicks({ pool }));
  const minute = 60_000;
  const ticks = Array.from({ length: 25 }, (_, i) => 1_700_000_040_000 + i * minute);
  const wins = new Map<number, string[]>();
  await Promise.all(claimers.map(async (c, n) => {
    for (const tick of ticks) {
      for (const job of ["nightly", "hourly"]) {
        if (await c.claim(job, tick, `node-${n}`)) wins.set(tick, [...(wins.get(tick) ?? []), `${job}@node-${n}`]);
      }
    }
  }));
  assert.equal(wins.size, ticks.length);
  for (const [tick, w] of wins) assert.deepEqual(w.map((x) => x.split("@")[0]).sort(), ["hourly", "nightly"], `tick ${tick}: ${w.join(", ")}`);
  const { rows } = await db.admin.query<{ n: string }>("SELECT count(*) AS n FROM schedule_ticks");
  assert.equal(Number(rows[0]!.n), ticks.length * 2);
});

test("ticks: claims made longer ago than the retention are pruned; a tick must be whole ms", async (t) => {
  const db = await startFleetDb(t);
  if (!db) return;
  const pool = new pg.Pool({ connectionString: db.url, max: 1 });
  t.after(() => pool.end());
  let now = 1_700_000_000_000;
  const day = 86_400_000;
  const old = new PgTicks({ pool, clock: () => now, retentionMs: day });
  const firstTick = now - 60_000;
  assert.equal(await old.claim("j", firstTick, "a"), true);
  now += day - 1;
  assert.equal(await old.claim("j", now, "a"), true); // prunes: the first claim is not a day old yet
  assert.equal(await old.claim("j", firstTick, "b"), false);
  now += 3_600_000;
  assert.equal(await old.claim("j", now, "a"), true); // the next hourly prune removes the first claim
  const { rows } = await db.admin.query<{ tick: string }>("SELECT tick FROM schedule_ticks ORDER BY tick");
  assert.deepEqual(rows.map((r) => Number(r.tick)), [now - 3_600_000, now]);
  await assert.rejects(old.claim("j", 1.5, "a"), /whole number of ms/);
});

test("ticks (local): every tick is this daemon's", async () => {
  const local = new LocalTicks();
  assert.equal(await local.claim("j", 1, "n"), true);
  assert.equal(await local.claim("j", 1, "n"), true);
});

test("openFleet: Postgres pieces share one database and close cleanly", async (t) => {
  const db = await startFleetDb(t);
  if (!db) return;
  const fleet = await openFleet({ url: db.url, heartbeatMs: 1000 });
  await fleet.nodes.register({ id: "n1", host: "h", pid: process.pid, version: "1" });
  const release = await fleet.slots.acquire("r", 1);
  assert.deepEqual(fleet.slots.held(), [{ remote: "r", held: 1, unbacked: 0, waiting: 0 }]);
  assert.equal(await fleet.ticks.claim("j", 60_000, "n1"), true);
  assert.equal(await fleet.ticks.claim("j", 60_000, "n1"), false);
  assert.deepEqual((await fleet.nodes.list()).map((n) => [n.id, n.lost, n.stoppedAt === undefined]), [["n1", false, true]]);
  release();
  await fleet.close();
  const { rows } = await db.admin.query<{ stopped: boolean }>("SELECT stopped_at IS NOT NULL AS stopped FROM fleet_nodes");
  assert.deepEqual(rows, [{ stopped: true }]);
  const locks = await db.admin.query("SELECT 1 FROM pg_locks WHERE locktype = 'advisory'");
  assert.equal(locks.rowCount, 0);
});

test("openFleet: a local fleet is this process", async () => {
  const fleet = await openFleet({ local: true, nodeId: "box", countLeases: async () => 0 });
  await fleet.nodes.register({ id: "box", host: "h", pid: 1, version: "1" });
  const r1 = await fleet.slots.acquire("r", 1);
  const second = fleet.slots.acquire("r", 1);
  assert.deepEqual(fleet.slots.held(), [{ remote: "r", held: 1, waiting: 1, unbacked: 0 }]);
  r1();
  (await second)();
  assert.equal(await fleet.ticks.claim("j", 1, "box"), true);
  assert.equal((await fleet.nodes.list())[0]?.leases, 0);
  await fleet.close();
});

test("openFleet: an unreachable Postgres is a clear error", async () => {
  await assert.rejects(openFleet({ url: "postgres://ferry@127.0.0.1:1/none" }), /ECONNREFUSED/);
});
