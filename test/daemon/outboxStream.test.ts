import assert from "node:assert/strict";
import { mkdir, readFile, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, afterEach, beforeEach, describe, it } from "node:test";
import { createUploadHandler, RemoteRegistry, remoteEndpoint, type UploadJob } from "../../src/daemon/index.js";
import { outboxConcurrencyKey, outboxRunnerLane } from "../../src/daemon/jobs/outboxLease.js";
import type { TransferredFile } from "../../src/daemon/hooks/index.js";
import { silentLogger } from "../../src/log/index.js";
import { openDatabase, SqliteQueue, WorkerRunner, type Job } from "../../src/queue/index.js";
import { startPipelineRelay, type PipelineRelay, type RelayFault } from "../helpers/pipelineRelay.js";
import { pseudoRandomBytes, tempDir } from "../helpers/tmp.js";
import { exists, listNames, RestartableServer, waitUntil } from "./harness.js";

/**
 * The outbox streams its files (issue 13): upload jobs of one remote share a connection's
 * pipeline, each job completing only once its own file is verified and published. Ferry's
 * server behind a control relay that counts the client's writes and injects faults, one
 * connection to it, the real queue and worker runner with the outbox lane.
 */
describe("outbox uploads streamed over one connection", () => {
  let dir: { path: string; remove: () => Promise<void> };
  let server: RestartableServer;
  let relay: PipelineRelay | undefined;
  let remotes: RemoteRegistry | undefined;
  let runner: WorkerRunner | undefined;
  const p = (...parts: string[]) => join(dir.path, ...parts);

  beforeEach(async () => {
    dir = await tempDir("ferry-outbox-stream-");
    await mkdir(p("srv", "in"), { recursive: true });
    await mkdir(p("outbox"));
    server = new RestartableServer(p("srv"));
    await server.start();
  });

  afterEach(async () => {
    await runner?.stop(1000);
    await remotes?.drain();
    await relay?.close();
    await server.stop();
    await dir.remove();
    runner = remotes = relay = undefined;
  });

  after(() => undefined);

  /** Drop `names` into the outbox (quiet for a while), queue one job each, run the daemon's runner until every job is done or dead. */
  async function run(names: readonly string[], fault: RelayFault, o: { maxAttempts?: number } = {}) {
    relay = await startPipelineRelay(server.port, fault);
    const endpoint = remoteEndpoint("srv", { url: `ftp://user:pass@127.0.0.1:${relay.port}/`, connections: 1 });
    // A queued command the server dropped is found out after this long instead of 5 s.
    remotes = new RemoteRegistry([{ ...endpoint, connect: { ...endpoint.connect, pipelineStallMs: 300 } }], {
      backoff: { baseMs: 50, capMs: 200, jitter: 0 }, logger: silentLogger(),
    });
    const cfg: UploadJob = { kind: "upload", name: "o", remote: "srv", remoteDir: "/in", watch: p("outbox"), stableMs: 50, ignore: [], recursive: true, after: { kind: "delete" } };
    const store = new SqliteQueue(openDatabase(":memory:"), { backoff: { baseMs: 50, capMs: 200, jitter: 0 }, maxAttempts: o.maxAttempts ?? 5 });
    const bodies = new Map<string, Buffer>();
    const quiet = new Date(Date.now() - 10_000);
    for (const [i, name] of names.entries()) {
      const body = pseudoRandomBytes(3000 + i * 101, i + 1);
      bodies.set(name, body);
      await writeFile(p("outbox", name), body);
      await utimes(p("outbox", name), quiet, quiet);
      await store.enqueue({
        kind: "upload", payload: { job: "o", path: p("outbox", name), size: body.length, mtimeMs: quiet.getTime() },
        dedupeKey: `upload:o:${name}`, concurrencyKey: outboxConcurrencyKey("srv"),
      });
    }
    const heard: TransferredFile[] = [];
    const upload = createUploadHandler({
      jobs: new Map([["o", cfg]]), remotes, logger: silentLogger(), openWriters: async () => [],
      onTransferred: (_job, files) => void heard.push(...files),
    });
    runner = new WorkerRunner(store, {
      handlers: { upload }, concurrency: 1, pollIntervalMs: 20, logger: silentLogger(),
      lanes: [outboxRunnerLane([{ name: "srv", connections: 1 }])],
    });
    runner.start();
    const rows = (): Promise<Job[]> => store.listJobs({ limit: 1000 });
    await waitUntil(async () => (await rows()).every((j) => j.state === "done" || j.state === "dead"), { timeoutMs: 20_000, what: "every job to finish" });
    const transfers = (await store.transfers.list({ limit: 100 })).map((t) => t.path).sort();
    return { rows: (await rows()).sort((a, b) => a.id - b.id), bodies, heard, transfers };
  }

  const byName = (rows: readonly Job[]) => new Map(rows.map((j) => [(j.payload as { path: string }).path.split("/").pop()!, j]));

  it("several files in flight on one connection each complete their own row", async () => {
    const names = Array.from({ length: 8 }, (_, i) => `f${i}.bin`);
    const { rows, bodies, heard, transfers } = await run(names, { kind: "none" });
    assert.deepEqual(rows.map((j) => j.state), names.map(() => "done"));
    for (const [name, body] of bodies) assert.ok((await readFile(p("srv", "in", name))).equals(body), `${name} arrived whole`);
    assert.deepEqual((await listNames(p("srv", "in"))).sort(), [...names].sort(), "no temporary name left");
    assert.deepEqual((await listNames(p("outbox"))), [], "each file deleted after its own upload");
    // Each row recorded its own file, once.
    assert.deepEqual(transfers, names.map((n) => `/in/${n}`).sort());
    assert.deepEqual(heard.map((f) => f.path).sort(), names.map((n) => `/in/${n}`).sort());
    // One login, and STORs that left in the same write as the next file's passive request.
    assert.equal(relay!.commands.filter((c) => c.startsWith("USER")).length, 1);
    const streamed = relay!.writes.filter((w) => w.some((l) => l.startsWith("STOR")) && w.some((l) => /^(EPSV|PASV)/.test(l)));
    assert.ok(streamed.length >= 4, `pipelined STOR writes: ${JSON.stringify(relay!.writes.slice(0, 12))}`);
  });

  it("a file the server refuses (550) or whose size comes back wrong fails only its own job; the others publish", async () => {
    // A folder in the way of one file's temporary name: the server answers its STOR 550.
    await mkdir(p("srv", "in", ".blocked.bin.ferry-part"));
    const names = ["a.bin", "blocked.bin", "b.bin", "liar.bin", "c.bin", "d.bin"];
    const { rows } = await run(names, { kind: "wrong-size", match: /liar/ }, { maxAttempts: 1 });
    const jobs = byName(rows);
    assert.equal(jobs.get("blocked.bin")?.state, "dead");
    assert.match(jobs.get("blocked.bin")?.lastError ?? "", /550|STOR/);
    assert.equal(jobs.get("liar.bin")?.state, "dead");
    assert.match(jobs.get("liar.bin")?.lastError ?? "", /size check failed/);
    for (const name of ["a.bin", "b.bin", "c.bin", "d.bin"]) {
      assert.equal(jobs.get(name)?.state, "done", name);
      assert.ok(await exists(p("srv", "in", name)), `${name} published`);
    }
    // Nothing unverified under a final name; the failed files stay in the outbox for a retry.
    assert.equal(await exists(p("srv", "in", "blocked.bin")), false);
    assert.equal(await exists(p("srv", "in", "liar.bin")), false);
    assert.deepEqual((await listNames(p("outbox"))).sort(), ["blocked.bin", "liar.bin"]);
  });

  it("a connection cut in the middle of the stream publishes nothing unverified; the jobs retry and land exactly once", async () => {
    const names = Array.from({ length: 8 }, (_, i) => `g${i}.bin`);
    // The control connection dies right after the third 226: that file's checks never come back.
    const { rows, bodies, heard, transfers } = await run(names, { kind: "cut-after-transfer", after: 3 });
    assert.deepEqual(rows.map((j) => j.state), names.map(() => "done"));
    for (const [name, body] of bodies) assert.ok((await readFile(p("srv", "in", name))).equals(body), `${name} arrived whole`);
    assert.deepEqual((await listNames(p("srv", "in"))).sort(), [...names].sort(), "no temporary name left");
    assert.equal(relay!.commands.filter((c) => c.startsWith("USER")).length, 2, "the cut cost one new login");
    // The file cut before its checks was stored twice and renamed once: published only after its checks.
    const third = relay!.commands.filter((c) => c.startsWith("STOR"))[2]!.slice("STOR ".length);
    assert.equal(relay!.commands.filter((c) => c === `STOR ${third}`).length, 2);
    assert.equal(relay!.commands.filter((c) => c === `RNFR ${third}`).length, 1);
    // Each job recorded its file once.
    assert.deepEqual(transfers, names.map((n) => `/in/${n}`).sort());
    assert.deepEqual(heard.map((f) => f.path).sort(), names.map((n) => `/in/${n}`).sort());
  });

  for (const fault of [{ kind: "first-line-per-write" }, { kind: "drop-after-transfer", after: 2 }] as const) {
    it(`a server that cannot take pipelined commands (${fault.kind}) gets the files one at a time`, async () => {
      const names = Array.from({ length: 6 }, (_, i) => `h${i}.bin`);
      const { rows, bodies, transfers } = await run(names, fault);
      assert.deepEqual(rows.map((j) => j.state), names.map(() => "done"));
      for (const [name, body] of bodies) assert.ok((await readFile(p("srv", "in", name))).equals(body), `${name} arrived whole`);
      assert.deepEqual((await listNames(p("srv", "in"))).sort(), [...names].sort(), "no temporary name left");
      assert.deepEqual(transfers, names.map((n) => `/in/${n}`).sort());
      // After the switch, no write holds more than one command.
      const lastProbe = relay!.writes.findLastIndex((w) => w.length > 1);
      assert.ok(lastProbe < relay!.writes.length - 1);
      assert.ok(relay!.writes.slice(lastProbe + 1).every((w) => w.length === 1));
    });
  }
});
