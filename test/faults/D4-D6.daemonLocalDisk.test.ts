import assert from "node:assert/strict";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runFerry } from "../helpers/cli.js";
import { pseudoRandomBytes, tempDir } from "../helpers/tmp.js";
import { DaemonProcess, readQueue, RestartableServer, testConfig, waitUntil } from "../daemon/harness.js";
import { canMount, fillUp, freeUp, mountTmpfs, remount } from "../daemon/mounts.js";

interface StatusJson {
  daemonPid: number | null;
  localProblems: { job: string; condition: string; summary: string; path: string; message: string }[];
  jobs: { name: string; state: string; localProblem: { condition: string; summary: string } | null }[];
}

async function status(config: string): Promise<{ json: StatusJson; text: string }> {
  const j = await runFerry(["status", "--config", config, "--json"], { timeoutMs: 30_000 });
  assert.equal(j.code, 0, j.stderr);
  const t = await runFerry(["status", "--config", config], { timeoutMs: 30_000 });
  assert.equal(t.code, 0, t.stderr);
  return { json: JSON.parse(j.stdout) as StatusJson, text: t.stdout };
}

/**
 * D4, D6 (issue 12 failure #1, daemon part): a mirror (remote → local) whose destination is a
 * full tmpfs, then a read-only one. The daemon stays up, the job waits with the local backoff
 * without using attempts (2 attempts would be used up in a second otherwise), `ferry status`
 * names the condition and the path, and the job completes once the disk has room again.
 */
describe("D4/D6: the daemon over a full or read-only local destination", { skip: !canMount() && "needs root (tmpfs)" }, () => {
  let dir: { path: string; remove: () => Promise<void> };
  let server: RestartableServer;
  let daemon: DaemonProcess | undefined;
  let unmount: (() => void) | undefined;
  const p = (...parts: string[]) => join(dir.path, ...parts);
  const big = pseudoRandomBytes(1_500_000, 7);

  before(async () => {
    dir = await tempDir("ferry-d4-");
    await mkdir(p("srv", "data"), { recursive: true });
    await writeFile(p("srv", "data", "big.bin"), big);
    await writeFile(p("srv", "data", "small.txt"), "small\n");
    await mkdir(p("vol"));
    unmount = mountTmpfs(p("vol"), "3m");
    server = new RestartableServer(p("srv"));
    await server.start();
  });

  after(async () => {
    await daemon?.stop();
    await server?.stop();
    unmount?.();
    await dir?.remove();
  });

  it("stays up, shows 'local disk full: PATH', uses no attempts, completes once space returns", { timeout: 60_000 }, async () => {
    await mkdir(p("vol", "mirror"));
    await fillUp(p("vol", "filler"));
    await writeFile(p("ferry.json"), testConfig({
      dir: dir.path, url: server.url,
      extra: { retry: { attempts: 2, initialDelay: "100ms", maxDelay: "1s", jitter: 0, localDelay: "300ms", localMaxDelay: "1s", spaceCheck: 0 } },
      jobs: [{ name: "pull", kind: "mirror", source: "srv:/data", target: "./vol/mirror", schedule: "* * * * * *" }],
    }));
    daemon = new DaemonProcess(p("ferry.json"));
    await daemon.waitForLog("daemon ready");
    // Several deferrals in a row: the daemon survives each, and each uses no attempt.
    await waitUntil(() => daemon!.lines.filter((l) => l.event === "local.trouble").length >= 3,
      { timeoutMs: 20_000, what: "three local.trouble deferrals", exited: daemon, onTimeout: () => daemon!.stderr.slice(-4000) });
    const troubles = daemon.lines.filter((l) => l.event === "local.trouble");
    assert.ok(troubles.every((l) => l.condition === "disk-full"), JSON.stringify(troubles.map((l) => l.condition)));
    // The sync engine reports the full disk as a typed error: the daemon's last-resort handler never fires.
    assert.deepEqual(daemon.lines.filter((l) => l.event === "daemon.unhandled-rejection"), []);
    assert.doesNotMatch(daemon.stderr, /Unhandled|unhandledRejection/);
    const { json, text } = await status(p("ferry.json"));
    assert.equal(json.daemonPid, daemon.child.pid);
    assert.equal(json.localProblems.length, 1, JSON.stringify(json));
    assert.equal(json.localProblems[0]!.condition, "disk-full");
    assert.match(json.localProblems[0]!.summary, new RegExp(`^local disk full: ${p("vol").replace(/[/.]/g, "\\$&")}`));
    assert.equal(json.jobs[0]!.localProblem?.condition, "disk-full");
    assert.match(text, /LOCAL DISK FULL: /);
    assert.match(text, /pull \(mirror\) — \w+ \(waiting: local disk full: /);
    let q = readQueue(p("var", "ferry.db"));
    assert.equal(q.dead, 0, "no job went dead of the full disk");
    assert.equal(daemon.child.exitCode, null, "the daemon is up");

    await freeUp(p("vol", "filler"));
    await waitUntil(async () => (await readFile(p("vol", "mirror", "big.bin")).catch(() => Buffer.alloc(0))).equals(big),
      { timeoutMs: 15_000, what: "the mirror to complete after space returned", exited: daemon, onTimeout: () => daemon!.stderr.slice(-4000) });
    await waitUntil(async () => (await status(p("ferry.json"))).json.localProblems.length === 0,
      { timeoutMs: 10_000, what: "status to clear the condition", exited: daemon });
    q = readQueue(p("var", "ferry.db"));
    assert.equal(q.dead, 0);
    assert.ok(q.done >= 1);
    assert.ok(daemon.lines.some((l) => l.event === "local.recovered"));
    await daemon.stop();
    daemon = undefined;
  });

  it("a read-only destination: status says so, no retry storm, and it completes once writable", { timeout: 60_000 }, async () => {
    await writeFile(p("srv", "data", "later.txt"), "written after the remount\n");
    remount(p("vol"), "ro");
    try {
      daemon = new DaemonProcess(p("ferry.json"));
      await daemon.waitForLog("daemon ready");
      await waitUntil(() => daemon!.lines.some((l) => l.event === "local.trouble"),
        { timeoutMs: 20_000, what: "a local.trouble deferral", exited: daemon, onTimeout: () => daemon!.stderr.slice(-4000) });
      const started = Date.now();
      const { json, text } = await status(p("ferry.json"));
      assert.equal(json.localProblems[0]?.condition, "read-only", JSON.stringify(json.localProblems));
      assert.match(text, /local destination read-only: /);
      // Backoff 300 ms doubling to the 1 s cap: a handful of tries in 2 s, not a storm.
      await waitUntil(() => Date.now() - started > 2000, { timeoutMs: 3000, what: "2 s of read-only" });
      const tries = daemon.lines.filter((l) => l.event === "local.trouble").length;
      assert.ok(tries <= 8, `${tries} tries in about 2 s`);
      assert.equal(readQueue(p("var", "ferry.db")).dead, 0);
    } finally {
      remount(p("vol"), "rw");
    }
    await waitUntil(async () => (await readFile(p("vol", "mirror", "later.txt"), "utf8").catch(() => "")) === "written after the remount\n",
      { timeoutMs: 15_000, what: "the mirror to complete once writable", exited: daemon, onTimeout: () => daemon!.stderr.slice(-4000) });
    assert.equal(daemon.child.exitCode, null);
    await daemon.stop();
    daemon = undefined;
  });

  it("the daemon's own write: an outbox's after.move folder on a full disk keeps the file, waits, then archives it", { timeout: 60_000 }, async () => {
    await mkdir(p("outbox"), { recursive: true });
    const body = pseudoRandomBytes(400_000, 9);
    await writeFile(p("outbox", "out.bin"), body);
    await fillUp(p("vol", "filler2"));
    await writeFile(p("ferry2.json"), testConfig({
      dir: dir.path, url: server.url,
      extra: { database: "./var2/ferry.db", retry: { attempts: 2, initialDelay: "100ms", maxDelay: "1s", jitter: 0, localDelay: "300ms", localMaxDelay: "1s", spaceCheck: 0 } },
      jobs: [{ name: "outbox", kind: "upload", watch: "./outbox", target: "srv:/inbox", stable: "100ms", after: { move: "./vol/sent" } }],
    }));
    daemon = new DaemonProcess(p("ferry2.json"));
    await daemon.waitForLog("daemon ready");
    await waitUntil(() => daemon!.lines.filter((l) => l.event === "local.trouble").length >= 2,
      { timeoutMs: 20_000, what: "the move to be deferred twice", exited: daemon, onTimeout: () => daemon!.stderr.slice(-4000) });
    assert.ok(daemon.lines.filter((l) => l.event === "local.trouble").every((l) => l.condition === "disk-full"));
    assert.ok((await readFile(p("outbox", "out.bin"))).equals(body), "the file stays in the outbox meanwhile");
    const { json } = await status(p("ferry2.json"));
    assert.equal(json.localProblems[0]?.job, "outbox");
    assert.match(json.localProblems[0]!.summary, /^local disk full: /);
    assert.equal(readQueue(p("var2", "ferry.db")).dead, 0);
    await freeUp(p("vol", "filler2"));
    await waitUntil(async () => (await readFile(p("vol", "sent", "out.bin")).catch(() => Buffer.alloc(0))).equals(body),
      { timeoutMs: 15_000, what: "the file archived once space returned", exited: daemon, onTimeout: () => daemon!.stderr.slice(-4000) });
    assert.deepEqual((await readFile(p("srv", "inbox", "out.bin"))).equals(body), true);
    assert.equal(readQueue(p("var2", "ferry.db")).dead, 0);
  });
});
