import assert from "node:assert/strict";
import { createServer } from "node:net";
import { join } from "node:path";
import { test } from "node:test";
import {
  FtpConnectionError, FtpLoginError, FtpReplyError, FtpTimeoutError, FtpUnreachableError, isRetriable, type ClientPool,
} from "../../src/client/index.js";
import { translateSessionError } from "../../src/client/errors.js";
import { classifyFailure, runMirror, VerifyError, type SyncPool } from "../../src/sync/index.js";
import { LocalFileError } from "../../src/sync/localErrors.js";
import { startCutProxy, type CutProxyOptions } from "../helpers/cutProxy.js";
import { startFerryServer, type RunningFerryServer } from "../helpers/ferryServer.js";
import { tempDir } from "../helpers/tmp.js";
import { poolFor } from "./remoteHelpers.js";
import { readTree, writeTree } from "./treeUtil.js";

// Typed failures and what the sync engine does with each (failures.ts): fatal stops the run
// once, no-retry fails the file, retry tries again.

test("classification: fatal, no-retry and retry from the client's typed errors and the local ones", () => {
  const reset = new FtpConnectionError("127.0.0.1:21 closed the control connection");
  const rows: { title: string; err: unknown; expected: ReturnType<typeof classifyFailure> }[] = [
    { title: "login refused", err: new FtpLoginError(530, "Login incorrect.", "PASS ****"), expected: "fatal" },
    { title: "server unreachable", err: new FtpUnreachableError("connect ECONNREFUSED"), expected: "fatal" },
    { title: "unreachable, wrapped by the engine", err: new Error("download a: boom", { cause: new FtpUnreachableError("x") }), expected: "fatal" },
    { title: "local disk full", err: new LocalFileError("disk-full", "/d/x", "ENOSPC", "destination full"), expected: "fatal" },
    { title: "local read-only", err: new LocalFileError("read-only", "/d/x", "EROFS", "read-only"), expected: "fatal" },
    { title: "local permission (this file only)", err: new LocalFileError("permission", "/d/x", "EACCES", "denied"), expected: "no-retry" },
    { title: "550 on one file", err: new FtpReplyError(550, "No such file", "RETR x"), expected: "no-retry" },
    { title: "553 bad name", err: new FtpReplyError(553, "Bad name", "STOR x"), expected: "no-retry" },
    { title: "cut connection", err: reset, expected: "retry" },
    { title: "timeout", err: new FtpTimeoutError("no reply within 30000 ms"), expected: "retry" },
    { title: "421 closing", err: new FtpReplyError(421, "Timeout"), expected: "retry" },
    { title: "451 local error on the server", err: new FtpReplyError(451, "Try later", "STOR x"), expected: "retry" },
    { title: "failed verification", err: new VerifyError("SHA-256 mismatch"), expected: "retry" },
  ];
  for (const row of rows) assert.equal(classifyFailure(row.err, isRetriable), row.expected, row.title);
});

test("the client translates a refused connect and a refused login once, keeping the message", () => {
  const refused = new FtpConnectionError("control connection to h:21: connect ECONNREFUSED", { cause: Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }) });
  const typed = translateSessionError(refused, false);
  assert.ok(typed instanceof FtpUnreachableError && typed.message === refused.message);
  assert.equal(translateSessionError(refused, true), refused, "after the greeting a reset is a lost connection, not an unreachable server");
  const login = translateSessionError(new FtpReplyError(530, "Login incorrect.", "PASS ****"), true);
  assert.ok(login instanceof FtpLoginError && login.code === 530 && login.message === "PASS ****: 530 Login incorrect.");
  const busy = new FtpReplyError(530, "Sorry, the maximum number of clients (2) from your host are already connected.", "USER u");
  assert.equal(translateSessionError(busy, true), busy, "a full server is busy, not a refused login");
  const notLogin = new FtpReplyError(530, "Not logged in", "STOR x");
  assert.equal(translateSessionError(notLogin, true), notLogin);
});

/** A port nothing listens on (bound, then closed). */
async function deadPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/**
 * A download mirror whose scan uses `scanPool` and whose transfers (everything after the plan)
 * use `transferPool`, counting the transfer pool's uses: the server "dies" between the two.
 */
async function mirrorWithDeathAfterScan(t: import("node:test").TestContext, server: RunningFerryServer, transferPool: ClientPool) {
  const tmp = await tempDir();
  const scanPool = poolFor(server.url(), 2);
  t.after(async () => { await scanPool.drain(); await transferPool.drain(); await tmp.remove(); });
  const files: Record<string, string> = {};
  for (let i = 0; i < 12; i++) files[`d${i % 3}/f${i}.txt`] = `file ${i}\n`;
  await writeTree(join(server.root, "m"), files);
  let phase: "scan" | "transfer" = "scan";
  let transferUses = 0;
  const pool: SyncPool = {
    use: (fn) => {
      if (phase === "scan") return scanPool.use(fn);
      transferUses++;
      return transferPool.use(fn);
    },
  };
  const local = join(tmp.path, "l");
  const out = await runMirror({
    direction: "download", localRoot: local, remoteRoot: "m", pool, isRetriable, parallel: 2,
    retry: { attempts: 3, baseMs: 1, capMs: 2 },
    progress: { planned: () => { phase = "transfer"; } },
  });
  return { out, transferUses: () => transferUses, files };
}

test("a dead server (connection refused) stops the mirror run once: one file's retries, not five per file", async (t) => {
  const server = await startFerryServer();
  t.after(() => server.close());
  const { out, transferUses, files } = await mirrorWithDeathAfterScan(t, server, poolFor(`ftp://user:pass@127.0.0.1:${await deadPort()}`, 2));
  const r = out.result!;
  assert.ok(r.stoppedBy instanceof FtpUnreachableError, `stopped by ${String(r.stoppedBy)}`);
  assert.match(r.stoppedBy.message, /ECONNREFUSED/);
  assert.equal(r.transferred.length, 0);
  assert.equal(r.failed.length, Object.keys(files).length, "every file is reported");
  const notAttempted = r.failed.filter((f) => f.error.includes("not attempted: the run stopped early"));
  // Two workers were under way when the first gave up; every other file was never tried.
  assert.ok(notAttempted.length >= Object.keys(files).length - 2, `${notAttempted.length} not attempted`);
  // At most the two in-flight files' three attempts each, where retrying every file would cost 36.
  assert.ok(transferUses() <= 6, `${transferUses()} connection attempts`);
});

test("a login refused mid-run stops the mirror run at once, without retrying", async (t) => {
  const server = await startFerryServer({ limits: { loginFailureDelayMs: 0 } });
  t.after(() => server.close());
  const { out, transferUses, files } = await mirrorWithDeathAfterScan(t, server, poolFor(`ftp://user:wrong@127.0.0.1:${server.port}`, 2));
  const r = out.result!;
  assert.ok(r.stoppedBy instanceof FtpLoginError, `stopped by ${String(r.stoppedBy)}`);
  assert.equal(r.stoppedBy.code, 530);
  assert.equal(r.failed.length, Object.keys(files).length);
  assert.ok(transferUses() <= 2, `${transferUses()} logins tried, at most one per worker`);
  assert.ok(r.failed.every((f) => !/after \d+ attempts/.test(f.error)), "a refused login is never retried");
});

async function proxied(t: import("node:test").TestContext, proxyOptions: Omit<CutProxyOptions, "targetPort">) {
  const server = await startFerryServer();
  const proxy = await startCutProxy({ targetPort: server.port, ...proxyOptions });
  const tmp = await tempDir();
  const pool = poolFor(`ftp://user:pass@127.0.0.1:${proxy.port}`, 2);
  t.after(async () => { await pool.drain(); await proxy.close(); await server.close(); await tmp.remove(); });
  return { server, proxy, local: join(tmp.path, "l"), pool };
}

test("a 550 on one file fails only that file, with no retry, and the run goes on", async (t) => {
  const { server, proxy, local, pool } = await proxied(t, { deny: /^RETR .*denied/ });
  await writeTree(join(server.root, "m"), { "a.txt": "a", "denied.txt": "d", "z/b.txt": "b" });
  const out = await runMirror({ direction: "download", localRoot: local, remoteRoot: "m", pool, isRetriable, parallel: 2, retry: { attempts: 4, baseMs: 1, capMs: 2 } });
  const r = out.result!;
  assert.equal(r.stoppedBy, undefined);
  assert.deepEqual(r.failed.map((f) => f.path), ["denied.txt"]);
  assert.match(r.failed[0]!.error, /550/);
  assert.equal(proxy.commands.filter((c) => /^RETR .*denied/.test(c)).length, 1, "asked once");
  assert.deepEqual(r.transferred.map((x) => x.path).sort(), ["a.txt", "z/b.txt"]);
});

test("a cut connection is retried: the file arrives on the second attempt and the run does not stop", async (t) => {
  const { server, proxy, local, pool } = await proxied(t, { cutOn: /^RETR .*cut\.bin/, cutAfterBytes: 100_000 });
  const body = Buffer.alloc(1_500_000, 7);
  await writeTree(join(server.root, "m"), { "cut.bin": body, "other.txt": "o" });
  const out = await runMirror({ direction: "download", localRoot: local, remoteRoot: "m", pool, isRetriable, parallel: 2, retry: { attempts: 4, baseMs: 1, capMs: 2 } });
  const r = out.result!;
  assert.equal(r.stoppedBy, undefined);
  assert.deepEqual(r.failed, []);
  assert.equal(proxy.cuts, 1);
  assert.equal(r.transferred.find((x) => x.path === "cut.bin")?.attempts, 2);
  assert.deepEqual(await readTree(local, { withParts: true }), await readTree(join(server.root, "m")));
});
