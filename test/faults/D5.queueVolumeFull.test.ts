import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import BetterSqlite3 from "better-sqlite3";
import { runFerry } from "../helpers/cli.js";
import { pseudoRandomBytes, tempDir } from "../helpers/tmp.js";
import { DaemonProcess, listNames, readTree, RestartableServer, testConfig, waitUntil } from "../daemon/harness.js";
import { canMount, fillUp, freeUp, mountTmpfs } from "../daemon/mounts.js";

/**
 * D5: the queue database on a small tmpfs that fills up while the daemon runs. New files are
 * refused by the database (SQLITE_FULL): the daemon stays up, `ferry status` says the queue is
 * full, and once space returns the refused files are queued and sent without a restart; the
 * database passes an integrity check afterwards. Also: a corrupt database is refused with its
 * path and the way out.
 */
describe("D5: queue volume full; corrupt database", () => {
  let dir: { path: string; remove: () => Promise<void> };
  let server: RestartableServer;
  let daemon: DaemonProcess | undefined;
  let unmount: (() => void) | undefined;
  const p = (...parts: string[]) => join(dir.path, ...parts);

  before(async () => {
    dir = await tempDir("ferry-d5-");
    await mkdir(p("srv"));
    await mkdir(p("outbox"));
    server = new RestartableServer(p("srv"));
    await server.start();
  });

  after(async () => {
    await daemon?.stop();
    await server?.stop();
    unmount?.();
    await dir?.remove();
  });

  it("SQLITE_FULL: refused files wait, status says so, and they are sent once space returns, no restart", { skip: !canMount() && "needs root (tmpfs)", timeout: 60_000 }, async () => {
    await mkdir(p("vol"));
    unmount = mountTmpfs(p("vol"), "8m");
    await writeFile(p("ferry.json"), testConfig({
      dir: dir.path, url: server.url,
      extra: { database: "./vol/ferry.db" },
      jobs: [{ name: "outbox", kind: "upload", watch: "./outbox", target: "srv:/inbox", stable: "600ms", after: "delete" }],
    }));
    daemon = new DaemonProcess(p("ferry.json"));
    await daemon.waitForLog("daemon ready");
    await writeFile(p("outbox", "first.bin"), pseudoRandomBytes(10_000, 1));
    await waitUntil(async () => (await readTree(p("srv", "inbox"))).has("first.bin"), { timeoutMs: 15_000, what: "the first upload", exited: daemon });

    await fillUp(p("vol", "filler"));
    // Enough files that their rows outgrow the pages SQLite already has.
    const bodies = new Map<string, Buffer>();
    for (let i = 0; i < 150; i++) {
      const name = `${"x".repeat(200)}-${i}.bin`;
      bodies.set(name, pseudoRandomBytes(100 + i, 10 + i));
      await writeFile(p("outbox", name), bodies.get(name)!);
    }
    await waitUntil(() => daemon!.lines.some((l) => l.event === "queue.full"),
      { timeoutMs: 20_000, what: "the daemon to notice the full database", exited: daemon, onTimeout: () => daemon!.stderr.slice(-3000) });
    const st = await runFerry(["status", "--config", p("ferry.json"), "--json"], { timeoutMs: 30_000 });
    assert.equal(st.code, 0, st.stderr);
    const s = JSON.parse(st.stdout) as { queueProblem: string | null };
    assert.match(s.queueProblem ?? "", /^queue database full: .*ferry\.db: new jobs are refused/);
    const text = await runFerry(["status", "--config", p("ferry.json")], { timeoutMs: 30_000 });
    assert.match(text.stdout, /QUEUE: queue database full/);
    assert.equal(daemon.child.exitCode, null, "the daemon is up");

    await freeUp(p("vol", "filler"));
    await waitUntil(async () => {
      const tree = await readTree(p("srv", "inbox"));
      return [...bodies].every(([n, b]) => tree.get(n)?.equals(b));
    }, { timeoutMs: 30_000, what: "every refused file to be sent without a restart", exited: daemon, onTimeout: () => execFileSync("sh", ["-c", `df -k ${p("vol")}; ls -la ${p("vol")}`]).toString() + JSON.stringify(Object.entries(daemon!.lines.reduce((m: Record<string, number>, l) => { m[String(l.msg)] = (m[String(l.msg)] ?? 0) + 1; return m; }, {}))) + daemon!.lines.filter((l) => l.level === "error").slice(-3).map((l) => JSON.stringify(l)).join("\n") });
    await waitUntil(async () => (await listNames(p("outbox"))).length === 0, { timeoutMs: 10_000, what: "the outbox to empty" });
    assert.ok(daemon.lines.some((l) => l.event === "queue.ok"));
    assert.equal((await daemon.stop()).code, 0);
    daemon = undefined;
    const db = new BetterSqlite3(p("vol", "ferry.db"), { readonly: true });
    try {
      assert.equal(db.pragma("integrity_check", { simple: true }), "ok");
    } finally {
      db.close();
    }
  });

  it("a corrupt database: the daemon and status refuse it naming the path and the way out", { timeout: 30_000 }, async () => {
    await mkdir(p("bad"));
    await writeFile(p("bad", "ferry.db"), Buffer.concat([Buffer.from("this is not an SQLite database\n"), pseudoRandomBytes(8192, 3)]));
    await writeFile(p("bad.json"), testConfig({
      dir: dir.path, url: server.url,
      extra: { database: "./bad/ferry.db" },
      jobs: [{ name: "outbox", kind: "upload", watch: "./outbox", target: "srv:/inbox", stable: "100ms" }],
    }));
    for (const args of [["daemon", "--config", p("bad.json")], ["status", "--config", p("bad.json")]]) {
      const r = await runFerry(args, { timeoutMs: 20_000 });
      assert.notEqual(r.code, 0, `${args[0]} exits non-zero`);
      assert.ok(r.stderr.includes(p("bad", "ferry.db")), `${args[0]} names the file: ${r.stderr}`);
      assert.match(r.stderr, /move it aside \(mv .*ferry\.db .*ferry\.db\.corrupt/);
      assert.match(r.stderr, /queues the files still in the watched outboxes/);
      assert.doesNotMatch(r.stderr, /^\s+at /m, "no stack trace");
    }
  });
});
