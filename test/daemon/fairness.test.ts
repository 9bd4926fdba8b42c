import assert from "node:assert/strict";
import { createServer, type Server, type Socket } from "node:net";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { pseudoRandomBytes, tempDir } from "../helpers/tmp.js";
import { DaemonProcess, listNames, readTree, RestartableServer, waitUntil } from "./harness.js";

describe("a slow remote does not starve the others", () => {
  let dir: { path: string; remove: () => Promise<void> };
  let server: RestartableServer;
  let blackhole: Server;
  const sockets = new Set<Socket>();
  let daemon: DaemonProcess;
  const p = (...parts: string[]) => join(dir.path, ...parts);

  before(async () => {
    dir = await tempDir("ferry-fair-");
    await mkdir(p("srv"));
    await mkdir(p("slow-outbox"));
    await mkdir(p("fast-outbox"));
    server = new RestartableServer(p("srv"));
    await server.start();
    // Accepts connections and never says a word: every job for it hangs until the client's timeout.
    blackhole = createServer((s) => { sockets.add(s); s.on("close", () => sockets.delete(s)); });
    await new Promise<void>((resolve) => blackhole.listen(0, "127.0.0.1", resolve));
    const slowPort = (blackhole.address() as { port: number }).port;
    await writeFile(p("ferry.json"), JSON.stringify({
      database: p("var", "ferry.db"), workers: 3, leaseTimeout: "5s", shutdownGrace: "1s",
      retry: { attempts: 100, initialDelay: "100ms", maxDelay: "1s" },
      remotes: {
        slow: { url: `ftp://u:p@127.0.0.1:${slowPort}/`, connections: 1 },
        fast: { url: server.url, connections: 2 },
      },
      jobs: [
        { name: "to-slow", kind: "upload", watch: "./slow-outbox", target: "slow:/in", stable: "100ms", after: "delete" },
        { name: "to-fast", kind: "upload", watch: "./fast-outbox", target: "fast:/in", stable: "100ms", after: "delete" },
      ],
    }));
    daemon = new DaemonProcess(p("ferry.json"));
    await daemon.waitForLog("daemon ready");
  });

  after(async () => {
    await daemon?.stop();
    for (const s of sockets) s.destroy();
    blackhole?.close();
    await server?.stop();
    await dir?.remove();
  });

  it("jobs for the fast remote complete while the slow one holds only its own connection cap", { timeout: 60_000 }, async () => {
    for (let i = 0; i < 10; i++) await writeFile(p("slow-outbox", `s${i}.dat`), pseudoRandomBytes(5000, i + 1));
    await waitUntil(() => daemon.messages("job started").length >= 1, { timeoutMs: 10_000, what: "a slow job to start", exited: daemon });
    const expected = new Map<string, Buffer>();
    for (let i = 0; i < 20; i++) {
      const body = pseudoRandomBytes(20_000, 100 + i);
      expected.set(`f${i}.dat`, body);
      await writeFile(p("fast-outbox", `f${i}.dat`), body);
    }
    // The slow remote's connect timeout is 10 s; all 20 must arrive well before one slow job could even fail.
    const started = Date.now();
    await waitUntil(async () => {
      const tree = await readTree(p("srv", "in"));
      return [...expected].every(([n, b]) => tree.get(n)?.equals(b));
    }, { timeoutMs: 9_000, what: "the fast remote's files", exited: daemon, onTimeout: () => daemon.stderr.slice(-2000) });
    assert.ok(Date.now() - started < 9_000);
    assert.equal((await listNames(p("slow-outbox"))).length, 10, "nothing reached the silent server");
    assert.ok(sockets.size <= 1, `${sockets.size} connections to the slow remote (cap 1)`);
  });
});
