import { test } from "node:test";
import assert from "node:assert/strict";
import { LocalSlots, SlotsClosedError } from "../../src/fleet/index.js";

const settled = async (p: Promise<unknown>): Promise<boolean> => {
  let done = false;
  p.then(() => (done = true), () => (done = true));
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
  return done;
};

test("local slots: at most cap per remote, waiters served in order, release idempotent", async () => {
  const slots = new LocalSlots();
  const a = await slots.acquire("r", 2);
  const b = await slots.acquire("r", 2);
  const other = await slots.acquire("s", 1); // remotes are counted apart
  const order: string[] = [];
  const c = slots.acquire("r", 2).then((rel) => (order.push("c"), rel));
  const d = slots.acquire("r", 2).then((rel) => (order.push("d"), rel));
  assert.equal(await settled(c), false);
  assert.deepEqual(slots.held(), [{ remote: "r", held: 2, waiting: 2, unbacked: 0 }, { remote: "s", held: 1, waiting: 0, unbacked: 0 }]);
  a();
  a(); // a second call must not free another slot
  const rc = await c;
  assert.equal(await settled(d), false);
  b();
  const rd = await d;
  assert.deepEqual(order, ["c", "d"]);
  for (const r of [rc, rd, other]) r();
  assert.deepEqual(slots.held(), []);
});

test("local slots: an aborted waiter leaves the queue; close fails the rest; onWanted hears waiters", async () => {
  const slots = new LocalSlots();
  let wanted = 0;
  const off = slots.onWanted("r", () => wanted++);
  const held = await slots.acquire("r", 1);
  assert.equal(wanted, 0);
  const ac = new AbortController();
  const aborted = slots.acquire("r", 1, ac.signal);
  assert.equal(wanted, 1);
  const later = slots.acquire("r", 1);
  ac.abort(new Error("cancelled"));
  await assert.rejects(aborted, /cancelled/);
  assert.deepEqual(slots.held(), [{ remote: "r", held: 1, waiting: 1, unbacked: 0 }]);
  off();
  await slots.close();
  await assert.rejects(later, SlotsClosedError);
  await assert.rejects(slots.acquire("r", 1), SlotsClosedError);
  held();
  await assert.rejects(slots.acquire("r", 1.5), /whole number >= 1/);
});
