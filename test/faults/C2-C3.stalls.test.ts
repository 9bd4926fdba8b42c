import assert from "node:assert/strict";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { pino } from "pino";
import { ClientPool, FtpClient, FtpReplyError, FtpTimeoutError, isRetriable } from "../../src/client/index.js";
import type { ServerLimits } from "../../src/server/index.js";
import { runMirror, transferFile, type TransferOutcome } from "../../src/sync/index.js";
import { startFerryServer, type RunningFerryServer } from "../helpers/ferryServer.js";
import { startRelay, type Relay, type RelayOptions } from "../helpers/relay.js";
import { pseudoRandomBytes, tempDir } from "../helpers/tmp.js";

// FAULTS.md C2 (a stalled data connection) and C3 (the control connection stalls after 150
// while the data flows), injected by a loopback relay that goes silent: sockets stay open,
// nothing is forwarded, nothing is closed, as when packets are dropped on the way.

interface Timeouts { commandTimeoutMs: number; dataTimeoutMs: number }

/** Server lines that the test reads (transfer aborts, session ends). */
function memoryLogger(): { logger: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: "info" }, { write: (s: string) => { lines.push(JSON.parse(s) as Record<string, unknown>); } });
  return { logger, lines };
}

async function setup(t: TestContext, o: { limits: Partial<ServerLimits>; client: Timeouts; relay: Omit<RelayOptions, "targetPort"> }) {
  const log = memoryLogger();
  const server = await startFerryServer({ limits: { loginFailureDelayMs: 0, ...o.limits }, logger: log.logger });
  const relay = await startRelay({ targetPort: server.port, ...o.relay });
  const tmp = await tempDir("ferry-stall-");
  const pool = new ClientPool({
    max: 1,
    connect: () => FtpClient.connect({ host: "127.0.0.1", port: relay.port, user: "user", password: "pass", connectTimeoutMs: 5000, ...o.client }),
  });
  t.after(async () => {
    await pool.drain();
    await relay.close();
    await server.close();
    await tmp.remove();
  });
  const retries: { err: unknown; at: number }[] = [];
  const transfer = (kind: "get" | "put", name: string, size: number): Promise<TransferOutcome> => {
    const tr = { localPath: join(tmp.path, name), remotePath: name, size };
    return transferFile(tr, {
      direction: kind === "get" ? "download" : "upload", pool, isRetriable, retry: { attempts: 3, baseMs: 50, capMs: 100 },
      onRetry: (err) => retries.push({ err, at: performance.now() }),
    });
  };
  return { server, relay, tmp, pool, retries, transfer, lines: log.lines };
}

/** Waits (bounded) until `cond` holds; fails naming `what`. */
async function until(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const count = (relay: Relay, re: RegExp): number => relay.commands.filter((c) => re.test(c)).length;

test("C2 stalled download: the client's data timeout fires, the connection is dropped, the retry resumes; the server frees the session", async (t) => {
  const body = pseudoRandomBytes(3 * 1024 * 1024, 21);
  const s = await setup(t, {
    limits: { dataTimeoutMs: 30_000 }, client: { commandTimeoutMs: 5000, dataTimeoutMs: 800 },
    relay: { stallData: { afterBytes: 1_000_000, on: /^RETR / } },
  });
  await writeFile(join(s.server.root, "big.bin"), body);
  const started = performance.now();
  const out = await s.transfer("get", "big.bin", body.length);
  assert.equal(s.relay.stalls, 1);
  assert.equal(s.retries.length, 1);
  const err = s.retries[0]!.err;
  assert.ok(err instanceof FtpTimeoutError, String(err));
  assert.match(err.message, /data connection stalled: nothing moved for 800 ms during RETR/);
  const detected = s.retries[0]!.at - started;
  assert.ok(detected < 5000, `stall detected after ${Math.round(detected)} ms`);
  assert.ok(out.offset > 0 && out.offset <= 1_000_000, `resumed at ${out.offset}`);
  assert.deepEqual(await readFile(join(s.tmp.path, "big.bin")), body);
  assert.deepEqual(await readdir(s.tmp.path), ["big.bin"], "no temporary file left");
  // The client closed the stalled session (not reused), then the server let it go.
  assert.equal(s.relay.sessions.length, 2);
  assert.ok(s.relay.sessions[0]!.clientClosed, "the stalled connection was closed by the client");
  await s.pool.drain();
  await until(() => s.server.server.sessionCount === 0, "the server to free every session");
});

test("C2 stalled upload: the server's data timeout fires (426), the client retries and resumes; nothing partial is published", async (t) => {
  const body = pseudoRandomBytes(4 * 1024 * 1024, 22);
  const s = await setup(t, {
    limits: { dataTimeoutMs: 700 }, client: { commandTimeoutMs: 10_000, dataTimeoutMs: 10_000 },
    relay: { stallData: { afterBytes: 1_000_000, on: /^STOR / } },
  });
  await writeFile(join(s.tmp.path, "up.bin"), body);
  const started = performance.now();
  const out = await s.transfer("put", "up.bin", body.length);
  assert.equal(s.relay.stalls, 1);
  assert.equal(s.retries.length, 1);
  const err = s.retries[0]!.err;
  assert.ok(err instanceof FtpReplyError && err.code === 426, String(err));
  assert.match(err.message, /stalled/);
  // The server's 700 ms fired, long before the client's 10 s would have.
  const detected = s.retries[0]!.at - started;
  assert.ok(detected < 5000, `the server gave up after ${Math.round(detected)} ms`);
  const aborted = s.lines.filter((l) => l.event === "transfer" && l.status === "aborted");
  assert.equal(aborted.length, 1);
  assert.match(String(aborted[0]!.reason), /stalled/);
  assert.ok(out.offset > 0, `resumed at ${out.offset}`);
  assert.deepEqual(await readFile(join(s.server.root, "up.bin")), body);
  assert.deepEqual(await readdir(s.server.root), ["up.bin"], "no temporary file left on the server");
  await s.pool.drain();
  await until(() => s.server.server.sessionCount === 0, "the server to free every session");
});

for (const [kind, size] of [["get", 2 * 1024 * 1024], ["get", 200_000], ["put", 2 * 1024 * 1024], ["put", 200_000]] as const) {
  test(`C3 control stalls after 150 while the data flows (${kind} ${size} B): a timeout, then SIZE on a fresh connection; no second transfer, one publish`, async (t) => {
    const body = pseudoRandomBytes(size, kind === "get" ? 31 : 32);
    const verb = kind === "get" ? "RETR" : "STOR";
    const s = await setup(t, {
      limits: { dataTimeoutMs: 5000, idleTimeoutMs: 10_000 }, client: { commandTimeoutMs: 800, dataTimeoutMs: 5000 },
      relay: { stallControl: { on: new RegExp(`^${verb} `) } },
    });
    if (kind === "get") await writeFile(join(s.server.root, "c3.bin"), body);
    else await writeFile(join(s.tmp.path, "c3.bin"), body);
    const out = await s.transfer(kind, "c3.bin", body.length);
    assert.equal(s.relay.stalls, 1);
    // Every byte moved, but no 226: the reply timeout fired.
    assert.equal(s.retries.length, 1);
    const err = s.retries[0]!.err;
    assert.ok(err instanceof FtpTimeoutError, String(err));
    assert.match(err.message, new RegExp(`no reply to ${verb} \\S*c3\\.bin\\S* within 800 ms`));
    // The second session checked the size instead of moving the file again.
    assert.equal(s.relay.sessions.length, 2);
    assert.equal(count(s.relay, new RegExp(`^${verb} `)), 1, `one ${verb}: ${s.relay.commands.join(" | ")}`);
    assert.ok(s.relay.sessions[1]!.commands.some((c) => /^SIZE .*c3\.bin/.test(c)), `SIZE on the fresh connection: ${s.relay.sessions[1]!.commands.join(" | ")}`);
    assert.equal(out.offset, body.length);
    assert.equal(out.bytes, 0);
    assert.equal(count(s.relay, /^RNTO /), kind === "put" ? 1 : 0, "one publish");
    const published = kind === "get" ? join(s.tmp.path, "c3.bin") : join(s.server.root, "c3.bin");
    assert.deepEqual(await readFile(published), body);
    assert.deepEqual(await readdir(kind === "get" ? s.tmp.path : s.server.root), ["c3.bin"], "no temporary file left");
  });
}

test("C3 in a mirror: the file whose 226 never came is confirmed by SIZE on a fresh connection and published once", async (t) => {
  const s = await setup(t, {
    limits: { dataTimeoutMs: 5000, idleTimeoutMs: 10_000 }, client: { commandTimeoutMs: 800, dataTimeoutMs: 5000 },
    relay: { stallControl: { on: /^RETR .*b\.bin/ } },
  });
  const files = { "a.bin": pseudoRandomBytes(300_000, 41), "b.bin": pseudoRandomBytes(1_500_000, 42), "c.txt": Buffer.from("c\n") };
  await mkdir(join(s.server.root, "m"));
  for (const [name, body] of Object.entries(files)) await writeFile(join(s.server.root, "m", name), body);
  const local = join(s.tmp.path, "m");
  const out = await runMirror({ direction: "download", localRoot: local, remoteRoot: "m", pool: s.pool, isRetriable, retry: { attempts: 3, baseMs: 50, capMs: 100 }, parallel: 1 });
  assert.deepEqual(out.result!.failed, []);
  assert.equal(s.relay.stalls, 1);
  const b = out.result!.transferred.find((x) => x.path === "b.bin");
  assert.equal(b?.attempts, 2);
  assert.equal(count(s.relay, /^RETR .*b\.bin/), 1, s.relay.commands.join(" | "));
  assert.ok(s.relay.commands.some((c) => /^SIZE .*b\.bin/.test(c)));
  assert.deepEqual((await readdir(local)).sort(), Object.keys(files).sort());
  for (const [name, body] of Object.entries(files)) assert.deepEqual(await readFile(join(local, name)), body, name);
});
