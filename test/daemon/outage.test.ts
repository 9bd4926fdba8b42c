import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, it } from "node:test";
import { runFerry } from "../helpers/cli.js";
import { pseudoRandomBytes, tempDir } from "../helpers/tmp.js";
import { DaemonProcess, listNames, readQueue, readTree, RestartableServer, testConfig, waitUntil } from "./harness.js";

describe("outage: the server stops, then comes back on the same port", () => {
  let dir: { path: string; remove: () => Promise<void> };
  let server: RestartableServer;
  let daemon: DaemonProcess;
  const p = (...parts: string[]) => join(dir.path, ...parts);

  before(async () => {
    dir = await tempDir("ferry-outage-");
    await mkdir(p("srv"));
    await mkdir(p("outbox"));
    await mkdir(p("msrc"));
    server = new RestartableServer(p("srv"));
    await server.start();
    await writeFile(p("ferry.json"), testConfig({
      dir: dir.path, url: server.url,
      // Few attempts: an outage must not use them up (jobs wait for the remote instead).
      extra: { retry: { attempts: 2, initialDelay: "200ms", maxDelay: "1s", jitter: 0.2 } },
      jobs: [
        { name: "outbox", kind: "upload", watch: "./outbox", target: "srv:/inbox", stable: "100ms", after: "delete" },
        { name: "mirror", kind: "mirror", source: "./msrc", target: "srv:/mirror", schedule: "* * * * * *" },
      ],
    }));
    daemon = new DaemonProcess(p("ferry.json"));
    await daemon.waitForLog("daemon ready");
  });

  after(async () => {
    await daemon?.stop();
    await server?.stop();
    await dir?.remove();
  });

  it("jobs back off while it is down, then complete; nothing dropped meanwhile is lost", { timeout: 60_000 }, async () => {
    const expected = new Map<string, Buffer>();
    const drop = async (name: string, size: number, seed: number) => {
      const body = pseudoRandomBytes(size, seed);
      expected.set(name, body);
      await writeFile(p("outbox", name), body);
    };
    const arrived = async () => {
      const tree = await readTree(p("srv", "inbox"));
      return [...expected].every(([n, b]) => tree.get(n)?.equals(b));
    };
    await drop("before.dat", 50_000, 1);
    await waitUntil(arrived, { timeoutMs: 15_000, what: "the first file", exited: daemon });

    await server.stop();
    const downAt = daemon.lines.length;
    for (let i = 0; i < 20; i++) await drop(`during-${i}.dat`, 20_000 + i * 1000, 10 + i);
    await writeFile(p("msrc", "m.txt"), "mirrored after the outage\n");
    const outageStart = Date.now();
    await waitUntil(() => daemon.messages("remote unreachable; backing off").length > 0, { timeoutMs: 5000, what: "the outage to be noticed", exited: daemon });
    // ferry status says why the jobs wait.
    const status = await runFerry(["status", "--config", p("ferry.json"), "--json"], { timeoutMs: 30_000 });
    assert.equal(status.code, 0, status.stderr);
    const s = JSON.parse(status.stdout) as { remotesDown: { remote: string; lastError: string }[]; jobs: { name: string; remoteDown: unknown }[] };
    assert.deepEqual(s.remotesDown.map((r) => r.remote), ["srv"]);
    assert.ok(s.jobs.find((j) => j.name === "outbox")?.remoteDown);
    await sleep(Math.max(0, 3000 - (Date.now() - outageStart))); // the rest of the outage
    const during = daemon.lines.slice(downAt);
    const backoffs = during.filter((l) => l.msg === "remote unreachable; backing off");
    assert.ok(backoffs.length >= 1, "the daemon noticed the outage");
    // Backing off, not spinning: a handful of connection attempts in 3 s, not one per job per poll.
    assert.ok(backoffs.length <= 8, `${backoffs.length} connection failures in 3 s`);
    // Each waiting job is looked at about once per backoff window (200 ms doubling to the 1 s
    // cap): 5 or 6 times in 3 s for 21 jobs, ~120. A spinning queue would do thousands.
    const deferred = during.filter((l) => l.msg === "job deferred").length;
    assert.ok(deferred <= 250, `${deferred} deferrals in 3 s: the queue is spinning`);
    assert.equal((await listNames(p("outbox"))).length, 20, "nothing is deleted while it cannot be sent");

    await server.start(); // same root, same port
    await waitUntil(async () => (await arrived()) && (await readTree(p("srv", "mirror"))).has("m.txt"),
      { timeoutMs: 30_000, what: "every file after the outage", exited: daemon, onTimeout: () => daemon.stderr.slice(-3000) });
    await waitUntil(async () => (await listNames(p("outbox"))).length === 0, { timeoutMs: 10_000, what: "the outbox to empty" });
    const q = readQueue(p("var", "ferry.db"));
    assert.equal(q.dead, 0, "no job died of the outage (2 attempts would have been used up otherwise)");
    assert.ok(daemon.messages("remote reachable again").length >= 1);
    const after = JSON.parse((await runFerry(["status", "--config", p("ferry.json"), "--json"], { timeoutMs: 30_000 })).stdout) as { remotesDown: unknown[] };
    assert.deepEqual(after.remotesDown, []);
  });
});
