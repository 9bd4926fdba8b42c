import { test } from "node:test";
import assert from "node:assert/strict";
import { ClientPool, FtpClient, FtpReplyError, FtpUsageError } from "../../src/client/index.js";
import { startFakeFtpServer, type FakeServerOptions } from "../helpers/fakeFtpServer.js";

/** An admission gate like a fleet slot: at most `limit` admissions out at once, FIFO waiters, honours the signal. */
function gate(limit: number) {
  let out = 0;
  let peak = 0;
  let calls = 0;
  let aborted = 0;
  const waiters: { grant: () => void }[] = [];
  const take = (): (() => void) => {
    out++;
    peak = Math.max(peak, out);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      out--;
      waiters.shift()?.grant();
    };
  };
  const admit = (signal: AbortSignal): Promise<() => void> => {
    calls++;
    if (out < limit) return Promise.resolve(take());
    return new Promise((resolve, reject) => {
      const w = { grant: () => resolve(take()) };
      waiters.push(w);
      signal.addEventListener("abort", () => {
        const i = waiters.indexOf(w);
        if (i >= 0) waiters.splice(i, 1);
        aborted++;
        reject(signal.reason as Error);
      }, { once: true });
    });
  };
  return { admit, out: () => out, peak: () => peak, calls: () => calls, aborted: () => aborted, waiting: () => waiters.length, setLimit: (n: number) => (limit = n) };
}

async function setup(t: import("node:test").TestContext, max: number, admit: (s: AbortSignal) => Promise<() => void>, options: FakeServerOptions = {}) {
  let serverPeak = 0;
  const server = await startFakeFtpServer({
    greeting: ({ open }) => {
      serverPeak = Math.max(serverPeak, open);
      return "220 fake ready\r\n";
    },
    ...options,
  });
  t.after(() => server.close());
  let connects = 0;
  const pool = new ClientPool({
    max, admit,
    connect: () => {
      connects++;
      return FtpClient.connect({ host: "127.0.0.1", port: server.port, user: "u", password: "p", commandTimeoutMs: 3000 });
    },
  });
  t.after(() => pool.drain());
  return { server, pool, connects: () => connects, serverPeak: () => serverPeak };
}

const slowNoop: FakeServerOptions = { handlers: { NOOP: (_a, s) => void setTimeout(() => s.reply(200, "ok"), 20) } };

test("pool admit: never more connections than admitted, though max is higher", async (t) => {
  const g = gate(2);
  const { pool, connects, serverPeak } = await setup(t, 5, g.admit, slowNoop);
  let inUse = 0;
  let peak = 0;
  await Promise.all(Array.from({ length: 8 }, () => pool.use(async (c) => {
    inUse++;
    peak = Math.max(peak, inUse);
    await c.noop();
    inUse--;
  })));
  assert.equal(g.peak(), 2);
  assert.equal(serverPeak(), 2);
  assert.equal(connects(), 2);
  assert.equal(peak, 2);
  // The uses that waited for admission were served by connections coming back, and their
  // admission waits were called off.
  assert.ok(g.aborted() >= 1, `aborted ${g.aborted()}`);
  assert.equal(g.waiting(), 0);
  assert.equal(g.out(), 2); // both connections are parked idle and keep their admission
});

test("pool admit: drain gives every admission back", async (t) => {
  const g = gate(3);
  const { pool } = await setup(t, 3, g.admit, slowNoop);
  await Promise.all(Array.from({ length: 3 }, () => pool.use((c) => c.noop())));
  assert.equal(g.out(), 3);
  await pool.drain();
  assert.equal(g.out(), 0);
});

test("pool admit: a failed connect gives its admission back", async (t) => {
  const g = gate(1);
  let attempt = 0;
  const { pool } = await setup(t, 2, g.admit, { handlers: { PASS: (_a, s) => s.reply(attempt++ === 0 ? 530 : 230, "x") } });
  await assert.rejects(pool.use((c) => c.noop()), FtpReplyError);
  assert.equal(g.out(), 0);
  await pool.use((c) => c.noop()); // the one admission is free again
  assert.equal(g.out(), 1);
});

test("pool admit: a connection closed by a transport error or by the caller gives its admission back", async (t) => {
  const g = gate(1);
  const { pool, connects } = await setup(t, 1, g.admit, { handlers: { DELE: (_a, s) => void s.control.destroy() } });
  await assert.rejects(pool.use((c) => c.remove("x")));
  assert.equal(g.out(), 0);
  await pool.use(async (c) => c.close());
  assert.equal(g.out(), 0);
  await pool.use((c) => c.noop());
  assert.equal(connects(), 3);
  assert.equal(g.out(), 1);
});

test("pool admit: an idle connection closed by its idle timer gives its admission back", async (t) => {
  const g = gate(1);
  const server = await startFakeFtpServer();
  t.after(() => server.close());
  const pool = new ClientPool({ max: 1, idleMs: 30, admit: g.admit, connect: () => FtpClient.connect({ host: "127.0.0.1", port: server.port, user: "u", password: "p" }) });
  t.after(() => pool.drain());
  await pool.use((c) => c.noop());
  for (let i = 0; i < 300 && g.out() > 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(g.out(), 0);
  assert.equal(pool.size, 0);
});

test("pool admit: drain rejects a use waiting for admission and aborts the wait", async (t) => {
  const g = gate(0);
  const { pool, connects } = await setup(t, 2, g.admit);
  const waiting = pool.use((c) => c.noop());
  for (let i = 0; i < 100 && g.waiting() === 0; i++) await new Promise((r) => setImmediate(r));
  assert.equal(g.waiting(), 1);
  await pool.drain();
  await assert.rejects(waiting, FtpUsageError);
  assert.equal(g.waiting(), 0); // the pool aborted the wait
  assert.equal(connects(), 0);
  assert.equal(pool.size, 0);
});

test("pool admit: an admission that rejects fails the use and frees the pool's slot", async (t) => {
  let fail = true;
  const admit = (): Promise<() => void> => (fail ? Promise.reject(new Error("slots unavailable")) : Promise.resolve(() => undefined));
  const { pool } = await setup(t, 1, admit);
  await assert.rejects(pool.use((c) => c.noop()), /slots unavailable/);
  assert.equal(pool.size, 0);
  fail = false;
  await pool.use((c) => c.noop());
  assert.equal(pool.size, 1);
});

test("pool admit: an admission granted after the wait ended goes straight back", async (t) => {
  // An admit that ignores its signal: the pool must still give back what it grants late.
  let grant!: (release: () => void) => void;
  let released = 0;
  const { pool, connects } = await setup(t, 2, () => new Promise((resolve) => (grant = resolve)));
  const waiting = pool.use((c) => c.noop());
  for (let i = 0; i < 100 && grant === undefined; i++) await new Promise((r) => setImmediate(r));
  await pool.drain();
  await assert.rejects(waiting, FtpUsageError);
  grant(() => released++);
  await new Promise((r) => setImmediate(r));
  assert.equal(released, 1);
  assert.equal(connects(), 0);
});

test("pool: closeIdle quits the idle connections, gives their admissions back, and the pool stays usable", async (t) => {
  const g = gate(2);
  const { pool, server, connects } = await setup(t, 2, g.admit, slowNoop);
  await Promise.all([pool.use((c) => c.noop()), pool.use((c) => c.noop())]);
  assert.equal(g.out(), 2);
  await pool.closeIdle();
  assert.equal(pool.size, 0);
  assert.equal(g.out(), 0);
  assert.equal(server.commands.filter((c) => c === "QUIT").length, 2);
  await pool.use((c) => c.noop());
  assert.equal(connects(), 3);
});

test("pool admit: yieldSlot with every connection busy gives back the next one released instead of reusing it", async (t) => {
  const g = gate(2);
  const { pool, connects } = await setup(t, 2, g.admit);
  // Two users hold both connections; a third waits inside the pool for one of them.
  let releaseFirst!: () => void;
  const firstHeld = new Promise<void>((r) => (releaseFirst = r));
  let releaseSecond!: () => void;
  const secondHeld = new Promise<void>((r) => (releaseSecond = r));
  const first = pool.use(() => firstHeld);
  const second = pool.use(() => secondHeld);
  for (let i = 0; i < 200 && connects() < 2; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(g.out(), 2);
  const third = pool.use(async () => "third ran");
  await pool.yieldSlot();
  releaseFirst();
  await first;
  // The released connection was closed and its admission given back: the waiting user asked for a new one.
  assert.equal(await third, "third ran");
  assert.equal(connects(), 3, "the waiting user got a new connection, not the yielded one");
  assert.equal(g.calls(), 3);
  releaseSecond();
  await second;
  // One yield per request: the next release is reused again.
  assert.equal(await pool.use(async () => "reused"), "reused");
  assert.equal(connects(), 3);
});
