import { test } from "node:test";
import assert from "node:assert/strict";
import { RemoteRegistry } from "../../src/daemon/remotes.js";
import { LocalSlots, PgSlots, type ConnectionSlots } from "../../src/fleet/index.js";
import { silentLogger } from "../../src/log/index.js";
import { startFakeFtpServer } from "../helpers/fakeFtpServer.js";
import { startFleetDb } from "./fleetDb.js";

/**
 * Two daemons' remote registries ("nodes") against one server, each with `connections: 3` and
 * its own slots view. The server counts a session from its greeting until QUIT (or until it
 * drops without one), as vsftpd's per-user limit does: the socket may close a moment later.
 */
async function twoNodes(t: import("node:test").TestContext, slots: [ConnectionSlots, ConnectionSlots]) {
  let active = 0;
  let peak = 0;
  const server = await startFakeFtpServer({
    greeting: () => {
      peak = Math.max(peak, ++active);
      return "220 fake ready\r\n";
    },
    handlers: {
      NOOP: (_a, s) => void setTimeout(() => s.reply(200, "ok"), 10),
      USER: (_a, s) => {
        s.control.once("close", () => s.state.quit !== true && active--);
        s.reply(331, "password");
      },
      QUIT: (_a, s) => {
        s.state.quit = true;
        active--;
        s.reply(221, "bye");
        s.close();
      },
    },
  });
  t.after(() => server.close());
  const endpoint = { name: "central", display: "ftp://u@central/", connect: { host: "127.0.0.1", port: server.port, user: "u", password: "p" }, basePath: ".", connections: 3 };
  const registries = slots.map((s) => new RemoteRegistry([endpoint], { backoff: { baseMs: 1000, capMs: 10_000, jitter: 0 }, logger: silentLogger(), slots: s, idleMs: 600_000 }));
  t.after(() => Promise.all(registries.map((r) => r.drain())));
  // Node 1 works first and keeps its connections idle (for 10 min); node 2 then needs the
  // remote: without the "wanted" signal it would wait for that idle time (the test's timeout).
  await Promise.all(Array.from({ length: 10 }, () => registries[0]!.use("central", (c) => c.noop())));
  assert.equal(registries[0]!.connections().get("central"), 3);
  await Promise.all(Array.from({ length: 10 }, () => registries[1]!.use("central", (c) => c.noop())));
  await Promise.all(registries.map((r) => Promise.all(Array.from({ length: 10 }, () => r.use("central", (c) => c.noop())))));
  return { peak: () => peak, registries };
}

test("remote registry with shared slots: two nodes with connections 3 open at most 3 together; idle ones make way", { timeout: 30_000 }, async (t) => {
  const shared = new LocalSlots();
  const { peak, registries } = await twoNodes(t, [shared, shared]);
  assert.equal(peak(), 3);
  const open = registries.reduce((n, r) => n + (r.connections().get("central") ?? 0), 0);
  assert.ok(open <= 3 && open >= 1, `open ${open}`);
  assert.equal(shared.held()[0]?.held, open);
  await Promise.all(registries.map((r) => r.drain()));
  assert.deepEqual(shared.held(), []);
});

test("remote registry with Postgres slots: two nodes with connections 3 open at most 3 together; idle ones make way", { timeout: 30_000 }, async (t) => {
  const db = await startFleetDb(t);
  if (!db) return;
  const slots = await Promise.all([0, 1].map(() => PgSlots.open({ connection: { connectionString: db.url } })));
  t.after(() => Promise.all(slots.map((s) => s.close())));
  const { peak, registries } = await twoNodes(t, [slots[0]!, slots[1]!]);
  assert.equal(peak(), 3);
  await Promise.all(registries.map((r) => r.drain()));
  assert.deepEqual(slots.flatMap((s) => s.held()), []);
});
