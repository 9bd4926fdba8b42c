import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { runFerry } from "../helpers/cli.js";
import { startPostgres } from "../helpers/postgres.js";
import { tempDir } from "../helpers/tmp.js";
import { DaemonProcess, testConfig } from "../daemon/harness.js";

// A daemon on a Postgres queue joins the fleet (issue 16 part 4): `ferry status` lists it, and a
// second daemon under the same node id is refused at start.

test("a daemon on Postgres registers its node: status lists it (text and --json); a second daemon under its id is refused", { timeout: 120_000 }, async (t) => {
  const cluster = await startPostgres(t);
  if (!cluster) return;
  t.after(() => cluster.close());
  const url = await cluster.createDatabase("ferry");
  const dir = await tempDir("ferry-fleet-node-");
  t.after(() => dir.remove());
  await mkdir(join(dir.path, "src"));
  const file = join(dir.path, "ferry.json");
  await writeFile(file, testConfig({
    dir: dir.path, url: "ftp://u:p@127.0.0.1:1/",
    jobs: [{ name: "photos", kind: "mirror", source: join(dir.path, "src"), target: "srv:/photos", schedule: "0 0 1 1 *", catchUp: false }],
    extra: { database: url, node: "edge-1" },
  }));
  const daemon = new DaemonProcess(file);
  t.after(() => daemon.stop());
  await daemon.waitForLog("daemon ready", 60_000);
  const pid = daemon.child.pid!;

  const json = await runFerry(["status", "--json", "--config", file]);
  assert.equal(json.code, 0, json.stderr);
  const nodes = (JSON.parse(json.stdout) as { nodes: { id: string; pid: number; lost: boolean; leases: number | null; lastHeartbeatAt: string; host: string }[] }).nodes;
  assert.deepEqual(nodes.map((n) => [n.id, n.pid, n.lost, n.leases]), [["edge-1", pid, false, 0]]);
  assert.ok(Date.parse(nodes[0]!.lastHeartbeatAt) > 0 && nodes[0]!.host.length > 0);
  const text = await runFerry(["status", "--config", file]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, new RegExp(`^daemon: running \\(pid ${pid}\\)$`, "m"));
  assert.match(text.stdout, /^nodes: 1 up$/m);
  assert.match(text.stdout, new RegExp(`^  edge-1 \\(.+, pid ${pid}, .+\\): up since`, "m"));

  const second = await runFerry(["daemon", "--config", file], { env: { FERRY_LOG_LEVEL: "error" }, timeoutMs: 60_000 });
  assert.equal(second.code, 2, second.stderr);
  assert.match(second.stderr, /edge-1/);
  assert.equal(daemon.child.exitCode, null, "the first daemon kept running");
  const still = await runFerry(["status", "--config", file]);
  assert.match(still.stdout, new RegExp(`^daemon: running \\(pid ${pid}\\)$`, "m"), "the refused daemon left the live one's health file");

  const stopped = await daemon.stop();
  assert.equal(stopped.code, 0, daemon.stderr.slice(-2000));
  const after = await runFerry(["status", "--json", "--config", file]);
  assert.deepEqual((JSON.parse(after.stdout) as { nodes: { id: string; stoppedAt: string | null }[] }).nodes.map((n) => [n.id, n.stoppedAt !== null]), [["edge-1", true]]);
});
