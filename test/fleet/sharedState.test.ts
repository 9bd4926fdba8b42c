// The sync state of a mirror lives in the fleet's database (issue 16): against a LIST-only server
// that cannot give precise times (vsftpd: no MLSD, no HASH), only the state tells a re-run that
// nothing changed. Node A runs the mirror and stops; node B, with its own state folder, runs it
// next and sends nothing, because it reads what A's run recorded from Postgres.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import pg from "pg";
import { DaemonProcess, testConfig, waitUntil } from "../daemon/harness.js";
import { runFerry } from "../helpers/cli.js";
import { startPostgres } from "../helpers/postgres.js";
import { inodes, pseudoRandomBytes, tempDir } from "../helpers/tmp.js";
import { requireServer, startVsftpd, VSFTPD_CANDIDATES } from "../helpers/vsftpd.js";
import { readJobs } from "./fleetHarness.js";

const FILES = 12;

async function query<R extends pg.QueryResultRow>(url: string, sql: string): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(sql)).rows;
  } finally {
    await client.end();
  }
}

test("a run on node B after node A's, against a LIST-only server, transfers nothing: the state is in Postgres", { timeout: 120_000 }, async (t) => {
  const bin = requireServer(t, "vsftpd", "apt-get install vsftpd", VSFTPD_CANDIDATES);
  if (!bin) return;
  const cluster = await startPostgres(t);
  if (!cluster) return;
  t.after(() => cluster.close());
  const url = await cluster.createDatabase("ferry");
  const server = await startVsftpd(bin);
  t.after(() => server.stop());
  const dir = await tempDir("ferry-fleet-state-");
  t.after(() => dir.remove());

  const source = join(dir.path, "shared");
  const files = new Map<string, Buffer>();
  for (let i = 0; i < FILES; i++) files.set(`d${i % 2}/f${i}.bin`, pseudoRandomBytes(1000 + i * 37, i + 1));
  for (const [path, bytes] of files) {
    await mkdir(join(source, path, ".."), { recursive: true });
    await writeFile(join(source, path), bytes);
  }
  const target = join(server.home, "mirror");
  const configOf = async (node: string): Promise<string> => {
    const home = join(dir.path, node);
    await mkdir(home);
    const file = join(home, "ferry.json");
    await writeFile(file, testConfig({
      dir: home, url: `ftp://${server.user}:${server.password}@127.0.0.1:${server.port}/`,
      jobs: [{ name: "m", kind: "mirror", source, target: `srv:${target}`, schedule: "0 0 1 1 *", catchUp: false }],
      extra: { database: url, node },
    }));
    return file;
  };
  const [configA, configB] = [await configOf("node-a"), await configOf("node-b")];

  /** Starts a node, queues a run of the mirror through it, waits until every job of the mirror ended, stops it; returns its log. */
  const runOn = async (config: string, runs: number): Promise<DaemonProcess> => {
    const daemon = new DaemonProcess(config);
    t.after(() => daemon.stop());
    await daemon.waitForLog("daemon ready", 60_000);
    const queued = await runFerry(["jobs", "run", "m", "--config", config], { timeoutMs: 60_000 });
    assert.equal(queued.code, 0, queued.stderr);
    let rows: Awaited<ReturnType<typeof readJobs>> = [];
    await waitUntil(async () => {
      rows = (await readJobs(url)).filter((r) => r.name === "m");
      return rows.filter((r) => r.kind === "mirror-finish").length === runs && rows.every((r) => r.state === "done" || r.state === "dead");
    }, { timeoutMs: 60_000, what: `run ${runs} of the mirror to end`, onTimeout: () => `${JSON.stringify(rows)}\n${daemon.stderr.slice(-3000)}`, exited: daemon });
    assert.deepEqual(rows.filter((r) => r.state !== "done").map((r) => [r.kind, r.state, r.lastError]), []);
    assert.equal((await daemon.stop()).code, 0, daemon.stderr.slice(-2000));
    return daemon;
  };

  const a = await runOn(configA, 1);
  for (const [path, bytes] of files) assert.deepEqual(await readFile(join(target, path)), bytes, path);
  const sentByA = await query<{ n: number }>(url, "SELECT count(*)::int AS n FROM transfers WHERE job_name = 'm'");
  assert.equal(sentByA[0]!.n, FILES);
  assert.deepEqual(a.messages("mirror run planned; parts queued for any node").map((l) => l.files), [FILES]);
  const before = await inodes(target);
  assert.equal(before.size, FILES);
  const saved = await query<{ paths: number }>(url, "SELECT paths FROM mirror_states");
  assert.deepEqual(saved.map((r) => r.paths), [FILES], "one row, every file recorded");
  assert.ok(!existsSync(join(dir.path, "node-a", "var", "state")) || (await readdir(join(dir.path, "node-a", "var", "state"))).every((f) => !f.startsWith("mirror-")),
    "no state file on node A");

  const b = await runOn(configB, 2);
  assert.deepEqual(b.messages("mirror run planned; parts queued for any node").map((l) => [l.files, l.unchanged]), [[0, FILES]], b.stderr.slice(-2000));
  const sent = await query<{ n: number }>(url, "SELECT count(*)::int AS n FROM transfers WHERE job_name = 'm'");
  assert.equal(sent[0]!.n, FILES, "node B sent nothing");
  assert.deepEqual(await inodes(target), before, "every file on the server is the one node A sent");
});
