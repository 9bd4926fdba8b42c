import assert from "node:assert/strict";
import { mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ConfigError, daemonConfigSchema, parseConfig } from "../../src/config/index.js";
import { BandwidthLimits } from "../../src/daemon/bandwidth.js";
import { createMirrorHandler, createUploadHandler, RemoteRegistry, remoteEndpoint, resolveDaemonConfig, type MirrorJob, type UploadJob } from "../../src/daemon/index.js";
import { silentLogger } from "../../src/log/index.js";
import { DatabaseMirrorStateStore } from "../../src/daemon/jobs/mirrorRun/index.js";
import { JobStore, openDatabase, SqliteQueue, type LeasedJob } from "../../src/queue/index.js";
import { pseudoRandomBytes, tempDir } from "../helpers/tmp.js";
import { RestartableServer } from "./harness.js";

/**
 * A clock whose sleeps pass at once: time moves to the end of the sleep, so waits that run
 * together (a remote's limit and the global one) overlap, and waits one after the other add up.
 */
function steppingClock() {
  const clock = {
    t: 0, now: () => clock.t, wallClock: () => clock.t,
    sleep: async (ms: number) => { const at = clock.t + ms; await Promise.resolve(); clock.t = Math.max(clock.t, at); },
  };
  return clock;
}

const config = (extra: string, remote = "") =>
  `${extra}remotes: { backup: { url: "ftp://edge@files.example/", password: s ${remote} }, other: { url: "ftp://h/" } }\n` +
  `jobs:\n  - { name: o, kind: upload, watch: ./o, target: "backup:/in" }\n`;

describe("daemon bandwidth limits", () => {
  it("config: a global and a per-remote bwlimit, rates or timetables, reach the resolved config", () => {
    const cfg = parseConfig("f.yaml", config(`bwlimit: "08:00,512k 19:00,10M 23:00,off"\n`, `, bwlimit: 1M`), daemonConfigSchema);
    const resolved = resolveDaemonConfig("/etc/ferry/f.yaml", cfg);
    assert.deepEqual(resolved.bandwidth, { global: "08:00,512k 19:00,10M 23:00,off", remotes: { backup: "1M" } });
    assert.deepEqual(resolveDaemonConfig("/f.yaml", parseConfig("f.yaml", config(""), daemonConfigSchema)).bandwidth, { remotes: {} });
  });

  it("config: bad limits are listed by path, all at once", () => {
    assert.throws(() => parseConfig("f.yaml", config(`bwlimit: "fast"\n`, `, bwlimit: "Mon-25:00,1M"`), daemonConfigSchema), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /(^|\s)bwlimit: bad bandwidth limit "fast"/);
      assert.match(err.message, /remotes\.backup\.bwlimit: bad time 25:00/);
      return true;
    });
  });

  it("a remote's transfers obey the tighter of its limit and the global one; an unlimited remote gets the global one", async () => {
    const clock = steppingClock();
    const limits = new BandwidthLimits({ global: "1000", remotes: { slow: "100", fast: "10M" } }, clock);
    await limits.for("slow")!.take(1000);
    assert.equal(clock.t, 10_000);
    await limits.for("fast")!.take(1000);
    assert.equal(clock.t, 11_000);
    await limits.for("unlimited")!.take(2000);
    assert.equal(clock.t, 13_000);
    assert.equal(new BandwidthLimits({ remotes: { a: "off" } }).for("a"), undefined);
    assert.equal(new BandwidthLimits({ remotes: {} }).for("a"), undefined);
  });
});

describe("daemon job handlers take their bytes from the remote's limit", () => {
  let dir: { path: string; remove: () => Promise<void> };
  let server: RestartableServer;
  let remotes: RemoteRegistry;
  let store: JobStore;
  const p = (...parts: string[]) => join(dir.path, ...parts);
  const data = pseudoRandomBytes(48 * 1024, 3);

  before(async () => {
    dir = await tempDir("ferry-bw-");
    await mkdir(p("srv"));
    await mkdir(p("outbox"));
    await mkdir(p("photos"));
    server = new RestartableServer(p("srv"));
    await server.start();
    remotes = new RemoteRegistry([remoteEndpoint("srv", { url: server.url, connections: 2 })], { backoff: { baseMs: 100, capMs: 1000, jitter: 0 }, logger: silentLogger() });
    store = new JobStore(openDatabase(":memory:"));
  });
  after(async () => {
    await remotes?.drain();
    await server?.stop();
    await dir?.remove();
  });

  const lease = <K extends "upload" | "mirror">(kind: K, payload: Record<string, unknown>): LeasedJob & { kind: K } => {
    store.enqueue({ kind, payload, dedupeKey: `k:${Math.random()}` } as Parameters<JobStore["enqueue"]>[0]);
    const r = store.lease({ workerId: "t" });
    if (r?.status !== "leased" || r.job.kind !== kind) throw new Error("no lease");
    return r.job as LeasedJob & { kind: K };
  };

  it("an outbox upload", async () => {
    const path = p("outbox", "f.bin");
    await writeFile(path, data);
    const st = await stat(path);
    const clock = steppingClock();
    const bandwidth = new BandwidthLimits({ global: "1M", remotes: { srv: "16k" } }, clock);
    const job: UploadJob = { kind: "upload", name: "o", remote: "srv", remoteDir: "/in", watch: p("outbox"), stableMs: 0, ignore: [], recursive: false, after: { kind: "keep" } };
    await createUploadHandler({ jobs: new Map([["o", job]]), remotes, logger: silentLogger(), bandwidth, openWriters: async () => [] })(
      lease("upload", { job: "o", path, size: st.size, mtimeMs: st.mtimeMs }), { signal: new AbortController().signal, workerId: "t" });
    assert.deepEqual(await readFile(p("srv", "in", "f.bin")), data);
    assert.equal(clock.t, 3000, "48 KiB at the remote's 16 KiB/s"); // the file's bytes, each given its time
  });

  it("a mirror run", async () => {
    await writeFile(p("photos", "a.bin"), data);
    const clock = steppingClock();
    const bandwidth = new BandwidthLimits({ global: "8k", remotes: { srv: "1M" } }, clock);
    const job: MirrorJob = {
      kind: "mirror", name: "m", remote: "srv", remoteRoot: "/photos", localRoot: p("photos"), direction: "upload", schedule: "* * * * *",
      catchUp: false, delete: false, checksum: false, include: [], exclude: [], parallel: 2,
    };
    await createMirrorHandler({ jobs: new Map([["m", job]]), remotes, state: new DatabaseMirrorStateStore(new SqliteQueue(openDatabase(":memory:")).mirrorStates), recordsDir: p("state"), logger: silentLogger(), bandwidth })(
      lease("mirror", { job: "m" }), { signal: new AbortController().signal, workerId: "t" });
    assert.deepEqual(await readFile(p("srv", "photos", "a.bin")), data);
    assert.equal(clock.t, 6000, "48 KiB at the global 8 KiB/s, tighter than the remote's");
  });
});
