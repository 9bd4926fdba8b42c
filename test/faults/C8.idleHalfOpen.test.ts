import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { ClientPool, FtpClient } from "../../src/client/index.js";
import { startFerryServer } from "../helpers/ferryServer.js";
import { startRelay } from "../helpers/relay.js";

// FAULTS.md C8 between transfers: the peer of an idle pooled connection vanishes (nothing
// passes, nothing is closed). The pool's keep-alive NOOP gets no reply within the command
// timeout, so the connection is dropped within keepAliveMs + commandTimeoutMs, and the next
// use gets a fresh one. (Mid-transfer, in a namespace with iptables: C5-C7-C8.netns.test.ts.)

test("C8 idle half-open: the keep-alive NOOP times out, the connection is dropped, the next use reconnects", async (t) => {
  const KEEPALIVE = 300;
  const COMMAND_TIMEOUT = 800;
  const server = await startFerryServer();
  const relay = await startRelay({ targetPort: server.port });
  const pool = new ClientPool({
    max: 1, keepAliveMs: KEEPALIVE,
    connect: () => FtpClient.connect({ host: "127.0.0.1", port: relay.port, user: "user", password: "pass", commandTimeoutMs: COMMAND_TIMEOUT, dataTimeoutMs: COMMAND_TIMEOUT }),
  });
  t.after(async () => {
    await pool.drain();
    await relay.close();
    await server.close();
  });
  await writeFile(join(server.root, "f.txt"), "f\n");
  assert.deepEqual((await pool.use((c) => c.list())).map((e) => e.name), ["f.txt"]);
  assert.equal(relay.sessions.length, 1);
  relay.silenceAll();
  const silencedAt = performance.now();
  // Bounded wait for the client to give the silent connection up.
  while (!relay.sessions[0]!.clientClosed) {
    assert.ok(performance.now() - silencedAt < 10_000, "the half-open connection was never dropped");
    await new Promise((r) => setTimeout(r, 20));
  }
  const detected = performance.now() - silencedAt;
  t.diagnostic(`C8 idle: dropped ${Math.round(detected)} ms after the peer vanished (keep-alive ${KEEPALIVE} ms + command timeout ${COMMAND_TIMEOUT} ms)`);
  assert.ok(detected <= KEEPALIVE + COMMAND_TIMEOUT + 1500, `dropped after ${Math.round(detected)} ms`);
  assert.ok(relay.sessions[0]!.commands.includes("NOOP"), "the keep-alive asked");
  // The next use does not hang on the dead connection: a fresh session answers.
  assert.deepEqual((await pool.use((c) => c.list())).map((e) => e.name), ["f.txt"]);
  assert.equal(relay.sessions.length, 2);
});
