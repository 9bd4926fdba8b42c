import assert from "node:assert/strict";
import { connect, createServer, type Socket } from "node:net";
import { test } from "node:test";
import { isServerBusy, RemoteRegistry, remoteEndpoint } from "../../src/daemon/index.js";
import { silentLogger } from "../../src/log/index.js";
import { RetryLaterError } from "../../src/queue/index.js";
import { startFerryServer } from "../helpers/ferryServer.js";

/** A port with nothing listening (bound, then closed). */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

/** The delay a failed use of `url` imposes on its remote, with a fixed clock and no jitter. */
async function deferral(url: string): Promise<{ delayMs: number; err: unknown }> {
  const registry = new RemoteRegistry([remoteEndpoint("r", { url, password: "pass", connections: 1 })], {
    backoff: { baseMs: 100, capMs: 60_000, jitter: 0 }, logger: silentLogger(), now: () => 1_000_000, rng: () => 0.5,
  });
  try {
    await registry.use("r", async (c) => c.pwd());
  } catch (err) {
    assert.ok(err instanceof RetryLaterError, `a connection failure defers the job: ${String(err)}`);
    return { delayMs: err.delayMs, err };
  } finally {
    await registry.drain();
  }
  assert.fail("the use should have failed");
}

// FAULTS C6: refused and unresolvable are transient with the normal backoff; 421 (the server is
// up but full) is transient with a longer one, so a busy server's slots are not hammered.
test("C6 daemon: a 421 'too many connections' backs off longer than a refused connection", { timeout: 30_000 }, async (t) => {
  const full = await startFerryServer({ limits: { maxConnections: 1 } });
  const holder: Socket = connect(full.port, "127.0.0.1");
  holder.on("error", () => {});
  await new Promise<void>((r) => holder.once("data", () => r())); // its greeting: the only slot is taken
  t.after(async () => { holder.destroy(); await full.close(); });

  const busy = await deferral(`ftp://user@127.0.0.1:${full.port}/`);
  assert.ok(isServerBusy(busy.err), `the failure carries the 421: ${String(busy.err)}`);
  const refused = await deferral(`ftp://user@127.0.0.1:${await closedPort()}/`);
  assert.equal(isServerBusy(refused.err), false);
  assert.equal(refused.delayMs, 100, "a refused connection: the base delay");
  assert.equal(busy.delayMs, 400, "a busy server: two doublings ahead");
});
