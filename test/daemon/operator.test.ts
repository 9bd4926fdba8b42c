import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { readRemoteHealth } from "../../src/daemon/index.js";
import { runFerry } from "../helpers/cli.js";
import { tempDir } from "../helpers/tmp.js";
import { DaemonProcess, readQueue, readTree, RestartableServer, testConfig, waitUntil } from "./harness.js";

/** A loopback port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

describe("operator basics: status --check and SIGHUP against a real daemon", () => {
  let dir: { path: string; remove: () => Promise<void> };
  let server: RestartableServer;
  let daemon: DaemonProcess | undefined;
  let downPort: number;
  const p = (...parts: string[]) => join(dir.path, ...parts);
  const config = (jobs: unknown[], extra: Record<string, unknown> = {}) => testConfig({
    dir: dir.path, url: server.url,
    extra: { retry: { attempts: 1 }, remotes: { srv: { url: server.url }, down: { url: `ftp://u:p@127.0.0.1:${downPort}/` } }, ...extra },
    jobs,
  });
  const goodMirror = { name: "good", kind: "mirror", source: "./msrc", target: "srv:/m", schedule: "0 0 1 1 *" };
  const check = () => runFerry(["status", "--config", p("ferry.json"), "--check"]);

  before(async () => {
    dir = await tempDir("ferry-operator-");
    await mkdir(p("srv"));
    await mkdir(p("msrc"));
    await mkdir(p("late"));
    await writeFile(p("msrc", "m.txt"), "mirrored\n");
    server = new RestartableServer(p("srv"));
    await server.start();
    downPort = await closedPort();
  });

  after(async () => {
    const r = await daemon?.stop();
    await server?.stop();
    await dir?.remove();
    if (r) assert.equal(r.code, 0, daemon?.stderr.slice(-2000));
  });

  it("status --check: exit 1 and one line when the daemon is not running", async () => {
    await writeFile(p("ferry.json"), config([goodMirror]));
    const r = await check();
    assert.equal(r.code, 1, r.stderr);
    assert.deepEqual(r.stdout.trim().split("\n").map((l) => l.replace(/:.*/, "")), ["daemon not running"]);
  });

  it("status --check: exit 0 and ok once the daemon runs and its job succeeded", { timeout: 60_000 }, async () => {
    daemon = new DaemonProcess(p("ferry.json"));
    await daemon.waitForLog("daemon ready");
    await waitUntil(() => readQueue(p("var", "ferry.db")).done >= 1, { timeoutMs: 20_000, what: "the good mirror done", exited: daemon });
    const r = await check();
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^ok: daemon running \(pid \d+\), 1 job\(s\)/);
  });

  it("SIGHUP with an invalid config: refused and logged, the old one keeps running", { timeout: 30_000 }, async () => {
    await writeFile(p("ferry.json"), config([goodMirror, { name: "bad", kind: "mirror", source: "./msrc", target: "nope:/x", schedule: "* * * * *" }]));
    daemon!.kill("SIGHUP");
    await daemon!.waitForLog("config reload refused; the running config stays: jobs[1].target: unknown remote \"nope\" (defined remotes: srv, down)");
    // A missing watch folder is refused the same way.
    await writeFile(p("ferry.json"), config([goodMirror, { name: "typo", kind: "upload", watch: "./nowhere", target: "srv:/in" }]));
    daemon!.kill("SIGHUP");
    await waitUntil(() => daemon!.messages("config reload refused; the running config stays: " +
      `job typo: watch folder ${p("nowhere")} does not exist; create it (mkdir -p ${p("nowhere")}) or fix the path in the config`).length === 1,
    { timeoutMs: 15_000, what: "the second refusal", exited: daemon! });
    assert.equal(daemon!.child.exitCode, null, "still running");
    const r = await check();
    assert.equal(r.code, 0, r.stdout);
  });

  it("SIGHUP with a valid config: new jobs run (watcher and scheduler follow); status --check names a dead job and a down remote", { timeout: 60_000 }, async () => {
    await writeFile(p("ferry.json"), config([
      goodMirror,
      { name: "late", kind: "upload", watch: "./late", target: "srv:/late", stable: "100ms", after: "delete" },
      { name: "doomed", kind: "mirror", source: "./no-such-folder", target: "srv:/doomed", schedule: "0 0 1 1 *" },
      { name: "cut", kind: "mirror", source: "./msrc", target: "down:/x", schedule: "0 0 1 1 *" },
    ]));
    daemon!.kill("SIGHUP");
    await daemon!.waitForLog("config reloaded");
    const reloaded = daemon!.messages("config reloaded")[0]!;
    assert.deepEqual(reloaded.added, ["late", "doomed", "cut"]);
    await writeFile(p("late", "new.txt"), "after the reload\n");
    await waitUntil(async () => (await readTree(p("srv", "late"))).get("new.txt")?.toString() === "after the reload\n", { timeoutMs: 20_000, what: "new.txt uploaded by the added job", exited: daemon! });
    // The daemon records both (the queue row, the health file); then one check must name them.
    const db = p("var", "ferry.db");
    await waitUntil(() => readQueue(db).dead >= 1 && readRemoteHealth(db, daemon!.child.pid!).some((t) => t.name === "down"),
      { timeoutMs: 30_000, what: "the doomed job dead and the remote down", exited: daemon! });
    const last = await check();
    assert.equal(last.code, 1, last.stdout);
    const lines = last.stdout.trim().split("\n");
    assert.equal(lines.length, 2, last.stdout);
    assert.match(lines.find((l) => l.startsWith("job doomed"))!, /no-such-folder|ENOENT/);
  });
});
