import assert from "node:assert/strict";
import { appendFile, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, it } from "node:test";
import { runFerry } from "../helpers/cli.js";
import { pseudoRandomBytes, tempDir } from "../helpers/tmp.js";
import { DaemonProcess, exists, listNames, readQueue, readTree, RestartableServer, testConfig, waitUntil } from "./harness.js";

/** The real daemon process against ferry's server on loopback: outbox uploads and a scheduled mirror. */
describe("ferry daemon (spawned) against ferry's server", () => {
  let dir: { path: string; remove: () => Promise<void> };
  let server: RestartableServer;
  let daemon: DaemonProcess;
  let configFile: string;
  const outbox = () => join(dir.path, "outbox");
  const sent = () => join(dir.path, "sent");
  const inbox = () => join(dir.path, "srv", "inbox");

  before(async () => {
    dir = await tempDir("ferry-daemon-");
    await mkdir(join(dir.path, "srv"));
    // Watch folders must exist: a missing one is refused at start.
    await mkdir(join(dir.path, "outbox"));
    await mkdir(join(dir.path, "marked"));
    await mkdir(join(dir.path, "mirror-src", "sub"), { recursive: true });
    await writeFile(join(dir.path, "mirror-src", "a.bin"), pseudoRandomBytes(70_000, 1));
    await writeFile(join(dir.path, "mirror-src", "sub", "b.txt"), "bee\n");
    await mkdir(join(dir.path, "srv", "pub", "deep"), { recursive: true });
    await writeFile(join(dir.path, "srv", "pub", "deep", "c.bin"), pseudoRandomBytes(123_456, 3));
    server = new RestartableServer(join(dir.path, "srv"));
    await server.start();
    configFile = join(dir.path, "ferry.json");
    await writeFile(configFile, testConfig({
      dir: dir.path, url: server.url,
      jobs: [
        { name: "outbox", kind: "upload", watch: "./outbox", target: "srv:/inbox", stable: "500ms", after: { move: "./sent" } },
        { name: "mirror", kind: "mirror", source: "./mirror-src", target: "srv:/mirror", schedule: "*/2 * * * * *", delete: true },
        { name: "pull", kind: "mirror", source: "srv:/pub", target: "./pulled", schedule: "*/2 * * * * *" },
        { name: "marked", kind: "upload", watch: "./marked", target: "srv:/marked", stable: "100ms", marker: ".done", after: "keep" },
      ],
    }));
    daemon = new DaemonProcess(configFile);
    await daemon.waitForLog("daemon ready");
  });

  after(async () => {
    const r = await daemon?.stop();
    await server?.stop();
    await dir?.remove();
    // A graceful stop is a clean exit.
    assert.equal(r?.code, 0, daemon?.stderr.slice(-2000));
  });

  it("a dropped file arrives exactly once with the right bytes, then is moved to sent/", async () => {
    const body = pseudoRandomBytes(300_000, 7);
    await writeFile(join(outbox(), "report.bin"), body);
    await waitUntil(async () => (await exists(join(sent(), "report.bin"))), { timeoutMs: 20_000, what: "report.bin in sent/", exited: daemon });
    const tree = await readTree(inbox());
    assert.deepEqual([...tree.keys()], ["report.bin"]);
    assert.ok(tree.get("report.bin")!.equals(body));
    assert.deepEqual(await listNames(outbox()), []);
    assert.deepEqual(await listNames(sent()), ["report.bin"]);
    const transfers = readQueue(join(dir.path, "var", "ferry.db")).transfers.filter((t) => t.path === "/inbox/report.bin");
    assert.equal(transfers.length, 1);
  });

  it("a file written in bursts (many events) is queued and uploaded once, in its final form", async () => {
    const path = join(outbox(), "burst.log");
    let expected = Buffer.alloc(0);
    for (let i = 0; i < 8; i++) {
      const chunk = pseudoRandomBytes(10_000, 100 + i);
      expected = Buffer.concat([expected, chunk]);
      await appendFile(path, chunk);
      await sleep(40); // well inside the 500 ms window: each write is an event that re-arms the timer
    }
    await waitUntil(() => exists(join(sent(), "burst.log")), { timeoutMs: 20_000, what: "burst.log in sent/", exited: daemon });
    const tree = await readTree(inbox());
    assert.ok(tree.get("burst.log")!.equals(expected));
    const queued = daemon.lines.filter((l) => typeof l.file === "string" && (l.file as string).endsWith("burst.log") && String(l.msg).startsWith("file stable"));
    assert.equal(queued.length, 1, JSON.stringify(queued));
    assert.equal(readQueue(join(dir.path, "var", "ferry.db")).transfers.filter((t) => t.path === "/inbox/burst.log").length, 1);
  });

  it("200 files dropped at once all arrive, each once, with the right bytes", async () => {
    const bodies = new Map<string, Buffer>();
    for (let i = 0; i < 200; i++) bodies.set(`many-${String(i).padStart(3, "0")}.dat`, pseudoRandomBytes(1000 + ((i * 977) % 9000), 1000 + i));
    await Promise.all([...bodies].map(([name, body]) => writeFile(join(outbox(), name), body)));
    await waitUntil(async () => (await listNames(sent())).filter((n) => n.startsWith("many-")).length === 200,
      { timeoutMs: 60_000, what: "200 files in sent/", exited: daemon, onTimeout: () => daemon.stderr.slice(-2000) });
    const tree = await readTree(inbox());
    for (const [name, body] of bodies) assert.ok(tree.get(name)?.equals(body), name);
    assert.deepEqual([...tree.keys()].filter((n) => n.startsWith(".")), [], "no partial files left");
    const transfers = readQueue(join(dir.path, "var", "ferry.db")).transfers.filter((t) => t.path.startsWith("/inbox/many-"));
    assert.equal(transfers.length, 200);
    assert.equal(new Set(transfers.map((t) => t.path)).size, 200);
  });

  it("the scheduled mirror runs and converges, then follows changes", async () => {
    const src = join(dir.path, "mirror-src");
    const dst = join(dir.path, "srv", "mirror");
    const same = async () => {
      const [a, b] = [await readTree(src), await readTree(dst)];
      return a.size === b.size && [...a].every(([k, v]) => b.get(k)?.equals(v));
    };
    await waitUntil(same, { timeoutMs: 20_000, what: "the mirror to converge", exited: daemon });
    await writeFile(join(src, "sub", "b.txt"), "bee, changed and longer\n");
    await writeFile(join(src, "new.txt"), "new\n");
    await waitUntil(same, { timeoutMs: 20_000, what: "the mirror to follow a change", exited: daemon });
    const runs = daemon.messages("mirror converged").length;
    assert.ok(runs >= 2, `mirror runs: ${runs}`);
  });

  it("a download mirror (REMOTE:/path → local folder) converges too", async () => {
    const src = join(dir.path, "srv", "pub");
    const dst = join(dir.path, "pulled");
    await waitUntil(async () => {
      const [a, b] = [await readTree(src), await readTree(dst)];
      return a.size === b.size && [...a].every(([k, v]) => b.get(k)?.equals(v));
    }, { timeoutMs: 20_000, what: "the download mirror", exited: daemon });
  });

  it("with a marker and after: keep, a file waits for NAME.done, is sent once, kept, and its marker removed", async () => {
    const dirPath = join(dir.path, "marked");
    await writeFile(join(dirPath, "data.csv"), "a,b\n1,2\n");
    await sleep(600);
    assert.equal(await exists(join(dir.path, "srv", "marked", "data.csv")), false, "not sent without its marker");
    await writeFile(join(dirPath, "data.csv.done"), "");
    await waitUntil(() => exists(join(dir.path, "srv", "marked", "data.csv")), { timeoutMs: 20_000, what: "data.csv on the server", exited: daemon });
    await waitUntil(async () => !(await exists(join(dirPath, "data.csv.done"))), { timeoutMs: 5000, what: "the marker to go" });
    assert.deepEqual(await listNames(dirPath), ["data.csv"]);
    assert.deepEqual([...(await readTree(join(dir.path, "srv", "marked"))).keys()], ["data.csv"]);
  });

  it("a second daemon on the same database is refused with exit 2", async () => {
    const r = await runFerry(["daemon", "--config", configFile], { timeoutMs: 30_000 });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`in use by another ferry daemon \\(pid ${daemon.child.pid}\\)`));
  });

  it("ferry status reads the queue while the daemon runs", async () => {
    const r = await runFerry(["status", "--config", configFile, "--json"], { timeoutMs: 30_000 });
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout) as { daemonPid: number | null; jobs: { name: string; state: string; counts: Record<string, number>; nextRunAt: string | null; recentTransfers: unknown[]; lastSuccessAt: string | null }[] };
    assert.equal(s.daemonPid, daemon.child.pid);
    const outboxJob = s.jobs.find((j) => j.name === "outbox")!;
    assert.ok(outboxJob.counts.done! >= 202);
    assert.equal(outboxJob.counts.dead, 0);
    assert.ok(outboxJob.lastSuccessAt);
    assert.equal(outboxJob.recentTransfers.length, 5);
    const mirrorJob = s.jobs.find((j) => j.name === "mirror")!;
    assert.ok(mirrorJob.nextRunAt && Date.parse(mirrorJob.nextRunAt) > Date.now() - 1000);
    const human = await runFerry(["status", "--config", configFile], { timeoutMs: 30_000 });
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /daemon: running \(pid \d+\)/);
    assert.match(human.stdout, /outbox \(upload\) — /);
    assert.match(human.stdout, /mirror \(mirror\) — /);
  });
});
