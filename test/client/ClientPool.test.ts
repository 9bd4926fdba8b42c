import { test } from "node:test";
import assert from "node:assert/strict";
import { ClientPool, FtpClient, FtpReplyError, FtpUsageError } from "../../src/client/index.js";
import { startFakeFtpServer, type FakeServerOptions } from "../helpers/fakeFtpServer.js";

async function setup(t: import("node:test").TestContext, max: number, options: FakeServerOptions = {}, idleMs?: number) {
  const server = await startFakeFtpServer(options);
  t.after(() => server.close());
  let connects = 0;
  const pool = new ClientPool({
    max, ...(idleMs !== undefined ? { idleMs } : {}),
    connect: () => {
      connects++;
      return FtpClient.connect({ host: "127.0.0.1", port: server.port, user: "u", password: "p", commandTimeoutMs: 3000 });
    },
  });
  t.after(() => pool.drain());
  return { server, pool, connects: () => connects };
}

const until = async (cond: () => boolean): Promise<void> => {
  for (let i = 0; i < 300 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
};

test("pool: never more than max connections; waiters get released clients", async (t) => {
  const { pool, connects } = await setup(t, 2, { handlers: { NOOP: (_a, s) => void setTimeout(() => s.reply(200, "ok"), 20) } });
  let inUse = 0;
  let peak = 0;
  await Promise.all(Array.from({ length: 6 }, () => pool.use(async (c) => {
    inUse++;
    peak = Math.max(peak, inUse);
    await c.noop();
    inUse--;
  })));
  assert.equal(connects(), 2);
  assert.equal(peak, 2);
  assert.equal(pool.size, 2);
});

test("pool: sequential uses reuse one connection", async (t) => {
  const { pool, connects } = await setup(t, 3);
  for (let i = 0; i < 4; i++) await pool.use((c) => c.noop());
  assert.equal(connects(), 1);
});

test("pool: after a reply error the client is NOOP-checked and kept", async (t) => {
  const { pool, connects, server } = await setup(t, 1, { handlers: { DELE: (_a, s) => s.reply(550, "No such file.") } });
  await assert.rejects(pool.use((c) => c.remove("x")), (e: unknown) => e instanceof FtpReplyError && e.code === 550);
  await pool.use((c) => c.noop());
  assert.equal(connects(), 1);
  const after = server.commands.slice(server.commands.indexOf("DELE x"));
  assert.deepEqual(after.slice(0, 2), ["DELE x", "NOOP"]);
});

test("pool: after a transport error the client is discarded and replaced", async (t) => {
  const { pool, connects } = await setup(t, 1, { handlers: { DELE: (_a, s) => void s.control.destroy() } });
  await assert.rejects(pool.use((c) => c.remove("x")));
  assert.equal(pool.size, 0);
  await pool.use((c) => c.noop());
  assert.equal(connects(), 2);
});

test("pool: a client the caller closed is discarded, not reused", async (t) => {
  const { pool, connects } = await setup(t, 1);
  await pool.use(async (c) => c.close());
  await pool.use((c) => c.noop());
  assert.equal(connects(), 2);
});

test("pool: idle connections are closed after idleMs", async (t) => {
  const { pool, server } = await setup(t, 1, {}, 50);
  await pool.use((c) => c.noop());
  await until(() => pool.size === 0);
  assert.equal(pool.size, 0);
  await until(() => server.commands.includes("QUIT"));
  assert.ok(server.commands.includes("QUIT"));
});

test("pool: an idle close waits for a keep-alive NOOP still in flight, then sends QUIT", async (t) => {
  // The NOOP goes out at 40 ms and is answered at 100 ms; the idle time ends at 50 ms, while
  // the NOOP is in flight. QUIT sent then would be refused as a second command in flight.
  const server = await startFakeFtpServer({ handlers: { NOOP: (_a, s) => void setTimeout(() => s.reply(200, "ok"), 60) } });
  t.after(() => server.close());
  const pool = new ClientPool({
    max: 1, idleMs: 50, keepAliveMs: 40,
    connect: () => FtpClient.connect({ host: "127.0.0.1", port: server.port, user: "u", password: "p", commandTimeoutMs: 3000 }),
  });
  t.after(() => pool.drain());
  await pool.use(async () => undefined);
  await until(() => server.commands.includes("QUIT"));
  assert.deepEqual(server.commands.slice(-2), ["NOOP", "QUIT"]);
  await until(() => pool.size === 0);
  assert.equal(pool.size, 0);
});

test("pool: drain quits idle clients and refuses new uses", async (t) => {
  const { pool, server } = await setup(t, 2);
  await pool.use((c) => c.noop());
  await pool.drain();
  assert.ok(server.commands.includes("QUIT"));
  await assert.rejects(pool.use((c) => c.noop()), FtpUsageError);
});

test("pool: a failing connect frees its slot", async (t) => {
  let attempt = 0;
  const server = await startFakeFtpServer({ handlers: { PASS: (_a, s) => s.reply(attempt++ === 0 ? 530 : 230, "x") } });
  t.after(() => server.close());
  const pool = new ClientPool({ max: 1, connect: () => FtpClient.connect({ host: "127.0.0.1", port: server.port, user: "u", password: "p" }) });
  t.after(() => pool.drain());
  await assert.rejects(pool.use((c) => c.noop()), FtpReplyError);
  await pool.use((c) => c.noop());
  assert.equal(pool.size, 1);
});

test("pool: max must be a whole number >= 1", () => {
  assert.throws(() => new ClientPool({ max: 0, connect: () => Promise.reject(new Error("unused")) }), /max must be/);
});

test("pool: idle clients get keep-alive NOOPs, and a use during one waits for it (single-flight)", async (t) => {
  const server = await startFakeFtpServer({ handlers: { NOOP: (_a, s) => void setTimeout(() => s.reply(200, "ok"), 15) } });
  t.after(() => server.close());
  const pool = new ClientPool({
    max: 1, idleMs: 5000, keepAliveMs: 10,
    connect: () => FtpClient.connect({ host: "127.0.0.1", port: server.port, user: "u", password: "p" }),
  });
  t.after(() => pool.drain());
  await pool.use((c) => c.pwd());
  await until(() => server.commands.filter((c) => c === "NOOP").length >= 2);
  for (let i = 0; i < 5; i++) await pool.use((c) => c.pwd());
  assert.ok(server.commands.filter((c) => c === "NOOP").length >= 2, server.commands.join(","));
  assert.equal(pool.size, 1);
});
