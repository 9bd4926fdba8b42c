import assert from "node:assert/strict";
import { mkdir, readFile, stat, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { createUploadHandler, PermanentJobError, RemoteRegistry, remoteEndpoint, type UploadJob } from "../../src/daemon/index.js";
import { silentLogger } from "../../src/log/index.js";
import { JobStore, openDatabase, RetryLaterError, type LeasedJob } from "../../src/queue/index.js";
import { tempDir } from "../helpers/tmp.js";
import { exists, RestartableServer } from "./harness.js";

/** The upload handler in-process, against ferry's server and a real (in-memory) queue. */
describe("upload job handler", () => {
  let dir: { path: string; remove: () => Promise<void> };
  let server: RestartableServer;
  let remotes: RemoteRegistry;
  let store: JobStore;
  const p = (...parts: string[]) => join(dir.path, ...parts);
  const job = (after: UploadJob["after"]): UploadJob => ({
    kind: "upload", name: "o", remote: "srv", remoteDir: "/in", watch: p("outbox"), stableMs: 200, ignore: [], recursive: true, after,
  });
  /** Enqueue and lease a real job for `path` as the watcher saw it (size, mtime); `attempts` leases in all. */
  const leased = async (path: string, seen: { size: number; mtimeMs: number }, attempts = 1): Promise<LeasedJob & { kind: "upload" }> => {
    store.enqueue({ kind: "upload", payload: { job: "o", path, ...seen }, dedupeKey: `k:${path}:${Math.random()}` });
    for (let i = 1; ; i++) {
      const r = store.lease({ workerId: "t" });
      assert.equal(r?.status, "leased");
      if (r?.status !== "leased" || r.job.kind !== "upload") throw new Error("no lease");
      if (i === attempts) return r.job;
      store.fail(r.job, new Error("simulated crash"), { delayMs: 0 });
    }
  };
  const run = (cfg: UploadJob, j: LeasedJob & { kind: "upload" }) =>
    createUploadHandler({ jobs: new Map([["o", cfg]]), remotes, logger: silentLogger() })(j, { signal: new AbortController().signal, workerId: "t" });

  before(async () => {
    dir = await tempDir("ferry-handler-");
    await mkdir(p("srv"));
    await mkdir(p("outbox", "sub"), { recursive: true });
    server = new RestartableServer(p("srv"));
    await server.start();
    // Down for a second after a failure: long enough that the second run below still finds it down on a loaded machine.
    remotes = new RemoteRegistry([remoteEndpoint("srv", { url: server.url, connections: 2 })], { backoff: { baseMs: 1000, capMs: 2000, jitter: 0 }, logger: silentLogger() });
    store = new JobStore(openDatabase(":memory:"));
  });

  after(async () => {
    await remotes?.drain();
    await server?.stop();
    await dir?.remove();
  });

  it("uploads the file's current form when it changed after it was found stable", async () => {
    const path = p("outbox", "sub", "grown.txt");
    await writeFile(path, "first version\n");
    const seen = await stat(path);
    await writeFile(path, "second, final and longer version\n");
    const old = new Date(Date.now() - 5000);
    await utimes(path, old, old); // quiet for longer than the window
    const result = await run(job({ kind: "move", dir: p("sent") }), await leased(path, { size: seen.size, mtimeMs: seen.mtimeMs }));
    assert.equal(await readFile(p("srv", "in", "sub", "grown.txt"), "utf8"), "second, final and longer version\n");
    assert.equal(await readFile(p("sent", "sub", "grown.txt"), "utf8"), "second, final and longer version\n");
    assert.deepEqual(result && "transfers" in result ? result.transfers?.map((t) => [t.path, t.bytes]) : [], [["/in/sub/grown.txt", 33]]);
  });

  it("waits (RetryLaterError, no attempt used) while the file is still being written", async () => {
    const path = p("outbox", "busy.txt");
    await writeFile(path, "v1");
    const j = await leased(path, { size: 1, mtimeMs: 1 });
    await assert.rejects(run(job({ kind: "keep" }), j), (err: unknown) => err instanceof RetryLaterError && err.delayMs > 0 && err.delayMs <= 200);
    assert.equal(await exists(p("srv", "in", "busy.txt")), false);
  });

  it("a moved-to name already taken gets a numbered name: nothing is overwritten", async () => {
    await mkdir(p("sent"), { recursive: true });
    await writeFile(p("sent", "dup.csv"), "older");
    const path = p("outbox", "dup.csv");
    await writeFile(path, "newer");
    const st = await stat(path);
    await utimes(path, new Date(Date.now() - 5000), new Date(Date.now() - 5000));
    await run(job({ kind: "move", dir: p("sent") }), await leased(path, { size: st.size, mtimeMs: (await stat(path)).mtimeMs }));
    assert.equal(await readFile(p("sent", "dup.csv"), "utf8"), "older");
    assert.equal(await readFile(p("sent", "dup.1.csv"), "utf8"), "newer");
  });

  it("a retry whose earlier run already published the file does not send it again, and records it once", async () => {
    const path = p("outbox", "again.bin");
    await writeFile(path, "same bytes");
    const st = await stat(path);
    await run(job({ kind: "keep" }), await leased(path, { size: st.size, mtimeMs: st.mtimeMs }));
    const before = await stat(p("srv", "in", "again.bin"));
    const retry = await run(job({ kind: "delete" }), await leased(path, { size: st.size, mtimeMs: st.mtimeMs }, 2));
    assert.equal((await stat(p("srv", "in", "again.bin"))).ino, before.ino, "not replaced");
    assert.equal(await exists(path), false, "after-action applied");
    assert.equal(retry && "transfers" in retry ? retry.transfers?.length : 0, 1);
  });

  it("a file gone after a finished upload completes the job; gone before it is a permanent error", async () => {
    const done = await run(job({ kind: "delete" }), await leased(p("outbox", "again.bin"), { size: 10, mtimeMs: 1 }, 2));
    assert.equal(done && "transfers" in done ? done.transfers?.[0]?.verified : undefined, "size");
    await assert.rejects(run(job({ kind: "delete" }), await leased(p("outbox", "never.bin"), { size: 5, mtimeMs: 1 })), PermanentJobError);
  });

  it("an unreachable remote turns into RetryLaterError and backs off", async () => {
    await server.stop();
    try {
      const path = p("outbox", "waiting.txt");
      await writeFile(path, "x");
      await utimes(path, new Date(Date.now() - 5000), new Date(Date.now() - 5000));
      const st = await stat(path);
      const j = await leased(path, { size: st.size, mtimeMs: st.mtimeMs });
      await assert.rejects(run(job({ kind: "keep" }), j), (err: unknown) => err instanceof RetryLaterError && /unreachable/.test(err.message));
      assert.ok(remotes.downFor("srv"), "the remote counts as down");
      await assert.rejects(run(job({ kind: "keep" }), j), (err: unknown) => err instanceof RetryLaterError && /next try in/.test(err.message));
    } finally {
      await server.start();
    }
  });
});
