import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pino } from "pino";
import { ClientPool, FtpClient, FtpReplyError, isRetriable } from "../../src/client/index.js";
import { connectionLimitReply } from "../../src/client/connectionLimit.js";
import { isLoginRefused, isServerBusy, RemoteRegistry } from "../../src/daemon/remotes.js";
import { RetryLaterError } from "../../src/queue/index.js";
import { runMirror } from "../../src/sync/mirror.js";
import { startFakeFtpServer, type FakeServerOptions } from "../helpers/fakeFtpServer.js";
import { runFerry } from "../helpers/cli.js";
import { startFerryServer } from "../helpers/ferryServer.js";
import { tempDir } from "../helpers/tmp.js";

// Issue 13 part 4: a server that refuses an extra connection ("too many connections") lowers
// the pool's connection count for the run instead of failing work (lftp >= 4.8.0).

function capture(): { logger: pino.Logger; lines: Record<string, unknown>[]; lowered: () => Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: "info" }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  return { logger, lines, lowered: () => lines.filter((l) => l.event === "pool.limit-lowered") };
}

function fakePool(port: number, max: number, logger: pino.Logger): ClientPool {
  return new ClientPool({
    max, logger, remote: `127.0.0.1:${port}`,
    connect: () => FtpClient.connect({ host: "127.0.0.1", port, user: "u", password: "p", connectTimeoutMs: 3000, commandTimeoutMs: 3000 }),
  });
}

/** A NOOP that takes a while, so concurrent uses need concurrent connections. */
const slowNoop: FakeServerOptions["handlers"] = { NOOP: (_a, s) => void setTimeout(() => s.reply(200, "NOOP ok."), 15) };

test("adaptive pool: ferry server with 2 connections per address, mirror --parallel 6 of 30 files: no failure, cap 2, one warning", async (t) => {
  const server = await startFerryServer({ limits: { maxConnectionsPerAddress: 2 } });
  const tmp = await tempDir();
  const log = capture();
  const pool = new ClientPool({
    max: 6, logger: log.logger, remote: "ferry-test",
    connect: () => FtpClient.connect({ host: server.host, port: server.port, user: "user", password: "pass", connectTimeoutMs: 5000, commandTimeoutMs: 10_000, dataTimeoutMs: 10_000 }),
  });
  t.after(async () => { await pool.drain(); await server.close(); await tmp.remove(); });
  const local = join(tmp.path, "up");
  await mkdir(local);
  for (let i = 0; i < 30; i++) await writeFile(join(local, `f${String(i).padStart(2, "0")}.txt`), `file ${i}\n`.repeat(i + 1));

  const out = await runMirror({ direction: "upload", localRoot: local, remoteRoot: "mirror", pool, isRetriable, retry: { attempts: 1, baseMs: 10, capMs: 10 }, parallel: 6 });

  assert.deepEqual(out.result!.failed, []);
  assert.equal(out.result!.transferred.length, 30);
  for (let i = 0; i < 30; i++) {
    const name = `f${String(i).padStart(2, "0")}.txt`;
    assert.equal(await readFile(join(server.root, "mirror", name), "utf8"), `file ${i}\n`.repeat(i + 1), name);
  }
  assert.equal(pool.cap, 2);
  const warned = log.lowered();
  assert.equal(warned.length, 1, JSON.stringify(warned));
  assert.equal(warned[0]!.level, 40); // warn
  assert.equal(warned[0]!.limit, 2);
  assert.equal(warned[0]!.remote, "ferry-test");
  assert.match(String(warned[0]!.reply), /421 Too many connections/);
});

test("adaptive pool: a vsftpd-style 421 greeting once 2 are open: 30 uses at 6 all succeed on 2 connections", async (t) => {
  let refused = 0;
  const server = await startFakeFtpServer({
    handlers: slowNoop,
    greeting: ({ open }) => {
      if (open <= 2) return "220 (vsFTPd 3.0.5)\r\n";
      refused++;
      return "421 There are too many connected users, please try later.\r\n";
    },
  });
  const log = capture();
  const pool = fakePool(server.port, 6, log.logger);
  t.after(async () => { await pool.drain(); await server.close(); });

  const results = await Promise.all(Array.from({ length: 30 }, (_v, i) => pool.use(async (c) => { await c.noop(); return i; })));

  assert.deepEqual(results, Array.from({ length: 30 }, (_v, i) => i));
  assert.ok(refused >= 1, "the server refused at least one connection");
  assert.equal(pool.cap, 2);
  assert.equal(pool.size, 2);
  const warned = log.lowered();
  assert.equal(warned.length, 1, JSON.stringify(warned));
  assert.equal(warned[0]!.limit, 2);
  assert.match(String(warned[0]!.reply), /too many connected users/);
});

test("adaptive pool: a proftpd-style 530 'maximum number of clients' at PASS lowers the cap too", async (t) => {
  let loggedIn = 0;
  const server = await startFakeFtpServer({
    handlers: {
      ...slowNoop,
      PASS: (_a, s) => {
        if (loggedIn >= 2) {
          s.reply(530, "Sorry, the maximum number of clients (2) from your host are already connected.");
          s.close();
          return;
        }
        loggedIn++;
        s.control.once("close", () => loggedIn--);
        s.reply(230, "User u logged in.");
      },
    },
  });
  const log = capture();
  const pool = fakePool(server.port, 6, log.logger);
  t.after(async () => { await pool.drain(); await server.close(); });

  const results = await Promise.all(Array.from({ length: 30 }, (_v, i) => pool.use(async (c) => { await c.noop(); return i; })));

  assert.equal(results.length, 30);
  assert.equal(pool.cap, 2);
  const warned = log.lowered();
  assert.equal(warned.length, 1, JSON.stringify(warned));
  assert.equal(warned[0]!.limit, 2);
  assert.match(String(warned[0]!.reply), /530 .*maximum number of clients/);
});

test("adaptive pool: a plain wrong-password 530 on an extra connection fails the use as a login error; the cap stays", async (t) => {
  let logins = 0;
  const server = await startFakeFtpServer({
    handlers: {
      ...slowNoop,
      PASS: (_a, s) => (++logins === 1 ? s.reply(230, "Login successful.") : s.reply(530, "Login incorrect.")),
    },
  });
  const log = capture();
  const pool = fakePool(server.port, 6, log.logger);
  t.after(async () => { await pool.drain(); await server.close(); });
  await pool.use((c) => c.noop()); // one working connection, idle in the pool

  const outcomes = await Promise.allSettled([pool.use((c) => c.noop()), pool.use((c) => c.noop())]);

  const rejected = outcomes.filter((o): o is PromiseRejectedResult => o.status === "rejected");
  assert.equal(rejected.length, 1);
  const err: unknown = rejected[0]!.reason;
  assert.ok(err instanceof FtpReplyError && err.code === 530, String(err));
  assert.ok(isLoginRefused(err));
  assert.equal(pool.cap, 6);
  assert.equal(log.lowered().length, 0);
});

test("adaptive pool: with no working connection a 421 surfaces (the server is really full) and the cap stays", async (t) => {
  const server = await startFakeFtpServer({ greeting: "421 There are too many connected users, please try later.\r\n" });
  const log = capture();
  const pool = fakePool(server.port, 4, log.logger);
  t.after(async () => { await pool.drain(); await server.close(); });

  const outcomes = await Promise.allSettled(Array.from({ length: 4 }, () => pool.use((c) => c.noop())));

  assert.equal(outcomes.length, 4);
  for (const o of outcomes) {
    assert.equal(o.status, "rejected");
    const err: unknown = (o as PromiseRejectedResult).reason;
    assert.ok(err instanceof FtpReplyError && err.code === 421, String(err));
  }
  assert.equal(pool.cap, 4);
  assert.equal(pool.size, 0);
  assert.equal(log.lowered().length, 0);
});

test("connection-limit classifier: 'too many' replies of real servers, not wrong passwords; the daemon's login check agrees", () => {
  const limit = [
    new FtpReplyError(421, "There are too many connected users, please try later.", "greeting"),
    new FtpReplyError(421, "There are too many connections from your internet address.", "greeting"),
    new FtpReplyError(421, "Service not available, closing control connection.", "greeting"),
    new FtpReplyError(530, "login not completed: Sorry, the maximum number of clients (2) from your host are already connected.", "USER"),
    new FtpReplyError(530, "login not completed: Sorry, the maximum number of allowed clients (10) are already connected.", "USER"),
    new FtpReplyError(530, "login not completed: Sorry, your account is restricted to 3 simultaneous logins.", "USER"),
    new FtpReplyError(421, "10 users (the maximum) are already logged in, sorry", "greeting"),
  ];
  const wrongPassword = [
    new FtpReplyError(530, "login not completed: Login incorrect.", "USER"),
    new FtpReplyError(530, "login not completed: Not logged in, user or password incorrect!", "USER"),
    new FtpReplyError(530, "login not completed: Permission denied.", "USER"),
    new FtpReplyError(430, "Invalid username or password", "USER"),
  ];
  // After login, "too many" is about something else: not a connection limit.
  assert.equal(connectionLimitReply(new FtpReplyError(452, "Too many files in this folder", "STOR a.txt")), undefined);
  for (const e of limit) {
    assert.equal(connectionLimitReply(new Error("wrapped", { cause: e })), e, e.message);
    assert.equal(isLoginRefused(e), false, e.message);
    assert.equal(isServerBusy(e), true, e.message);
  }
  for (const e of wrongPassword) {
    assert.equal(connectionLimitReply(e), undefined, e.message);
    assert.equal(isLoginRefused(e), true, e.message);
    assert.equal(isServerBusy(e), false, e.message);
  }
});

test("adaptive pool, CLI: ferry mirror --parallel 6 into a 2-connection ferry server: exit 0, 30 files, one warning; a full server's 530 is not a wrong password", async (t) => {
  const server = await startFerryServer({ limits: { maxConnectionsPerAddress: 2 } });
  const tmp = await tempDir();
  t.after(async () => { await server.close(); await tmp.remove(); });
  const env = { FERRY_STATE_DIR: join(tmp.path, "state"), HOME: tmp.path, FERRY_PASSWORD: "", NETRC: "", FERRY_LOG_LEVEL: "warn" };
  const local = join(tmp.path, "src");
  await mkdir(local);
  for (let i = 0; i < 30; i++) await writeFile(join(local, `f${i}.txt`), `cli ${i}\n`);

  const up = await runFerry(["mirror", local, `ftp://user:pass@127.0.0.1:${server.port}/site`, "--parallel", "6"], { env, timeoutMs: 60_000 });

  assert.equal(up.code, 0, up.stderr + up.stdout);
  assert.match(up.stdout, /30 transferred, 0 unchanged, 0 deleted, 0 failed/);
  const lowered = up.stderr.split("\n").filter((l) => l.includes("pool.limit-lowered"));
  assert.equal(lowered.length, 1, up.stderr);
  const line = JSON.parse(lowered[0]!) as Record<string, unknown>;
  assert.equal(line.limit, 2);
  assert.match(String(line.remote), /ftp:\/\/user:\*\*\*\*@127\.0\.0\.1/);
  assert.doesNotMatch(up.stderr + up.stdout, /:pass@/);
  for (let i = 0; i < 30; i++) assert.equal(await readFile(join(server.root, "site", `f${i}.txt`), "utf8"), `cli ${i}\n`);

  // The first connection refused: a full server (exit 3, "full"), never "check the password".
  const full = await startFakeFtpServer({ handlers: { PASS: (_a, s) => s.reply(530, "Sorry, the maximum number of clients (2) from your host are already connected.") } });
  t.after(() => full.close());
  const ls = await runFerry(["ls", `ftp://u:p@127.0.0.1:${full.port}/`], { env, timeoutMs: 30_000 });
  assert.equal(ls.code, 3, ls.stderr);
  assert.match(ls.stderr, /cannot connect to .*maximum number of clients.*the server is full/);
  assert.doesNotMatch(ls.stderr, /check the user/);

  // A wrong password stays a refused login (exit 3).
  const wrong = await startFakeFtpServer({ handlers: { PASS: (_a, s) => s.reply(530, "Login incorrect.") } });
  t.after(() => wrong.close());
  const bad = await runFerry(["ls", `ftp://u:p@127.0.0.1:${wrong.port}/`], { env, timeoutMs: 30_000 });
  assert.equal(bad.code, 3, bad.stderr);
  assert.match(bad.stderr, /login to .* refused .*Login incorrect.*check the user and the password/);
});

test("adaptive pool, daemon: a full server's 530 backs the remote off as busy (not 'login refused'); with a working connection, uses beyond the server's limit all succeed", async (t) => {
  const full = await startFakeFtpServer({ handlers: { PASS: (_a, s) => s.reply(530, "Sorry, the maximum number of clients (2) from your host are already connected.") } });
  const server = await startFerryServer({ limits: { maxConnectionsPerAddress: 2 } });
  t.after(async () => { await full.close(); await server.close(); });
  const log = capture();
  const endpoint = (name: string, port: number, user: string, password: string) => ({
    name, display: `ftp://${user}@127.0.0.1:${port}/`, connect: { host: "127.0.0.1", port, user, password }, basePath: ".", connections: 4,
  });
  const registry = new RemoteRegistry([endpoint("full", full.port, "u", "p"), endpoint("limited", server.port, "user", "pass")], {
    backoff: { baseMs: 1000, capMs: 10_000, jitter: 0 }, logger: log.logger,
  });
  t.after(() => registry.drain());

  await assert.rejects(registry.use("full", (c) => c.noop()), (e: unknown) => e instanceof RetryLaterError && /unreachable/.test(e.message) && !/login refused/.test(e.message));
  assert.deepEqual(registry.troubled().map((r) => [r.name, r.reason]), [["full", "unreachable"]]);

  await registry.use("limited", (c) => c.noop()); // a working connection first (the daemon's login gate)
  const done = await Promise.all(Array.from({ length: 8 }, (_v, i) => registry.use("limited", async (c) => { await c.noop(); return i; })));
  assert.equal(done.length, 8);
  assert.equal(log.lowered().length, 1);
  assert.equal(log.lowered()[0]!.limit, 2);
});
