import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import pg from "pg";
import { PgSlots, SlotsClosedError, type ReleaseSlot } from "../../src/fleet/index.js";
import { startFleetDb, until } from "./fleetDb.js";

/** Advisory locks granted on slot keys (two-int4 advisory locks have objsubid 2). */
async function slotLocks(admin: pg.Client): Promise<{ pid: number; index: number }[]> {
  const { rows } = await admin.query<{ pid: number; index: number }>(
    "SELECT pid, objid::int AS index FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2 AND granted ORDER BY objid");
  return rows;
}

async function open(t: import("node:test").TestContext, url: string, extra: { reconnectMinMs?: number } = {}): Promise<PgSlots> {
  const slots = await PgSlots.open({ connection: { connectionString: url }, pollMaxMs: 200, ...extra });
  t.after(() => slots.close());
  return slots;
}

/** Whether a promise is still pending after the event loop turned a few times. */
async function pending(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  p.then(() => (done = true), () => (done = true));
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  return !done;
}

test("pg slots: three nodes with cap 8 never hold more than 8 at once", async (t) => {
  const db = await startFleetDb(t);
  if (!db) return;
  const nodes = await Promise.all([open(t, db.url), open(t, db.url), open(t, db.url)]);
  let inUse = 0;
  let peak = 0;
  let done = 0;
  let lockPeak = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      lockPeak = Math.max(lockPeak, (await slotLocks(db.admin)).length);
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  await Promise.all(nodes.flatMap((node) => Array.from({ length: 6 }, async () => {
    for (let i = 0; i < 8; i++) {
      const release = await node.acquire("server-a", 8);
      inUse++;
      peak = Math.max(peak, inUse);
      await new Promise((r) => setTimeout(r, 5 + Math.floor(Math.random() * 10)));
      inUse--;
      release();
      done++;
    }
  })));
  sampling = false;
  await sampler;
  assert.equal(done, 3 * 6 * 8);
  assert.ok(peak <= 8, `peak ${peak}`);
  assert.ok(peak >= 4, `peak ${peak}: the nodes did run side by side`);
  assert.ok(lockPeak <= 8, `locks peak ${lockPeak}`);
  assert.ok(await until(async () => (await slotLocks(db.admin)).length === 0), "every slot given back");
});

test("pg slots: one node holding several slots takes distinct ones (advisory locks are re-entrant) and waits at the cap", async (t) => {
  const db = await startFleetDb(t);
  if (!db) return;
  const a = await open(t, db.url);
  const releases = [await a.acquire("r", 3), await a.acquire("r", 3), await a.acquire("r", 3)];
  assert.deepEqual((await slotLocks(db.admin)).map((l) => l.index), [0, 1, 2]);
  const fourth = a.acquire("r", 3);
  assert.ok(await pending(fourth));
  assert.deepEqual(a.held(), [{ remote: "r", held: 3, unbacked: 0, waiting: 1 }]);
  releases[1]!();
  const r4 = await fourth;
  assert.deepEqual((await slotLocks(db.admin)).map((l) => l.index), [0, 1, 2]);
  releases[1]!(); // idempotent: must not free slot 1 again
  assert.equal((await slotLocks(db.admin)).length, 3);
  r4();
  releases[0]!();
  releases[2]!();
  assert.ok(await until(async () => (await slotLocks(db.admin)).length === 0));
});

test("pg slots: a SIGKILLed node's slots are free for the others at once", async (t) => {
  const db = await startFleetDb(t);
  if (!db) return;
  const child = spawn(process.execPath, ["--import", "tsx", new URL("./slotHolder.ts", import.meta.url).pathname, db.url, "server-b", "8", "8"], { stdio: ["ignore", "pipe", "inherit"] });
  t.after(() => child.kill("SIGKILL"));
  let out = "";
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (d: string) => (out += d));
  assert.ok(await until(() => out.includes("held 8"), 1000), `child said: ${out}`);
  assert.equal((await slotLocks(db.admin)).length, 8);

  const b = await open(t, db.url);
  const waiting = Array.from({ length: 8 }, () => b.acquire("server-b", 8, AbortSignal.timeout(20_000)));
  assert.ok(await pending(waiting[0]!));
  const exited = once(child, "exit");
  child.kill("SIGKILL");
  await exited;
  const releases = await Promise.all(waiting); // rejects if the slots never came free
  assert.equal(releases.length, 8);
  const locks = await slotLocks(db.admin);
  assert.equal(locks.length, 8);
  assert.equal(new Set(locks.map((l) => l.pid)).size, 1, "all held by the surviving node");
});

test("pg slots: an aborted wait rejects with the signal's reason and takes no slot", async (t) => {
  const db = await startFleetDb(t);
  if (!db) return;
  const [a, b] = await Promise.all([open(t, db.url), open(t, db.url)]);
  const held = [await a.acquire("r", 2), await a.acquire("r", 2)];
  const ac = new AbortController();
  const waiter = b.acquire("r", 2, ac.signal);
  assert.ok(await pending(waiter));
  assert.deepEqual(b.held(), [{ remote: "r", held: 0, unbacked: 0, waiting: 1 }]);
  ac.abort(new Error("job cancelled"));
  await assert.rejects(waiter, /job cancelled/);
  assert.deepEqual(b.held(), []);
  held[0]!();
  assert.ok(await until(async () => (await slotLocks(db.admin)).length === 1));
  await assert.rejects(b.acquire("r", 2, AbortSignal.abort(new Error("already"))), /already/);
  await b.close();
  await assert.rejects(b.acquire("r", 2), SlotsClosedError);
  held[1]!();
});

test("pg slots: a cap that is not a whole number >= 1 is refused with the config key", async (t) => {
  const db = await startFleetDb(t);
  if (!db) return;
  const a = await open(t, db.url);
  await assert.rejects(a.acquire("r", 0), /remotes\.r\.connections/);
});

test("pg slots: a lost session makes its connections unbacked; no new one until each has a slot again", async (t) => {
  const db = await startFleetDb(t);
  if (!db) return;
  const [a, b] = await Promise.all([open(t, db.url, { reconnectMinMs: 50 }), open(t, db.url)]);
  const aHeld: ReleaseSlot[] = [];
  for (let i = 0; i < 3; i++) aHeld.push(await a.acquire("r", 4));
  const bHeld = [await b.acquire("r", 4)];
  const aPid = (await slotLocks(db.admin)).find((l) => l.index === 0)!.pid;

  // A cannot reconnect until allowed again: B takes the slots A's session lost meanwhile.
  await db.outside(`ALTER DATABASE ${db.name} ALLOW_CONNECTIONS false`);
  await db.outside("SELECT pg_terminate_backend($1)", [aPid]);
  assert.ok(await until(() => a.held()[0]?.unbacked === 3), JSON.stringify(a.held()));
  for (let i = 0; i < 3; i++) bHeld.push(await b.acquire("r", 4));
  await db.outside(`ALTER DATABASE ${db.name} ALLOW_CONNECTIONS true`);

  const aNew = a.acquire("r", 4, AbortSignal.timeout(20_000));
  const sessions = async () => Number((await db.admin.query("SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'ferry slots'")).rows[0].n);
  assert.ok(await until(async () => (await sessions()) === 2), "A reconnected");
  assert.ok(await pending(aNew));
  assert.equal(a.held()[0]?.unbacked, 3);

  bHeld.pop()!();
  bHeld.pop()!();
  assert.ok(await until(() => a.held()[0]?.unbacked === 1), JSON.stringify(a.held()));
  assert.ok(await pending(aNew), "no new connection while one is unbacked");
  bHeld.pop()!();
  assert.ok(await until(() => a.held()[0]?.unbacked === 0), JSON.stringify(a.held()));
  assert.ok(await pending(aNew), "the cap is full: A's 3 and B's 1");
  bHeld.pop()!();
  const r = await aNew;
  assert.equal((await slotLocks(db.admin)).length, 4);
  r();
  for (const rel of aHeld) rel();
  assert.ok(await until(async () => (await slotLocks(db.admin)).length === 0));
});

test("pg slots: after a Postgres restart the node reconnects and takes its slots back", async (t) => {
  const db = await startFleetDb(t);
  if (!db) return;
  const a = await open(t, db.url, { reconnectMinMs: 50 });
  const held = [await a.acquire("r", 4), await a.acquire("r", 4)];
  await db.cluster.stop();
  assert.ok(await until(() => a.held()[0]?.unbacked === 2), JSON.stringify(a.held()));
  await db.cluster.start();
  assert.ok(await until(() => a.held()[0]?.unbacked === 0), JSON.stringify(a.held()));
  const admin = new pg.Client({ connectionString: db.url });
  await admin.connect();
  t.after(() => admin.end());
  assert.equal((await slotLocks(admin)).length, 2);
  const third = await a.acquire("r", 4);
  assert.equal((await slotLocks(admin)).length, 3);
  for (const r of [...held, third]) r();
  assert.ok(await until(async () => (await slotLocks(admin)).length === 0));
});
