import assert from "node:assert/strict";
import { mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Writable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { pino } from "pino";
import { isRetriable } from "../../src/client/index.js";
import { createUploadHandler, RemoteRegistry, remoteEndpoint, type UploadJob } from "../../src/daemon/index.js";
import { silentLogger } from "../../src/log/index.js";
import { JobStore, openDatabase } from "../../src/queue/index.js";
import { runMirror } from "../../src/sync/index.js";
import { runFerry } from "../helpers/cli.js";
import { startFerryServer, type RunningFerryServer } from "../helpers/ferryServer.js";
import { pseudoRandomBytes, tempDir } from "../helpers/tmp.js";
import { poolFor } from "./remoteHelpers.js";

// get, put, mirror and the daemon's outbox all move a file through transferFile: the same
// temporary name, the same size and server-hash check, the same rename into place. Each
// caller is run against ferry's server, whose command log shows the per-file path it took.

/** The commands the server received (its debug log), in order. */
class CommandLog extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _e: BufferEncoding, done: () => void): void {
    for (const line of chunk.toString("utf8").split("\n")) {
      if (!line) continue;
      const entry = JSON.parse(line) as { command?: string };
      if (entry.command) this.lines.push(entry.command);
    }
    done();
  }
  /** The commands naming `name` (the file or its temporary name), from index `from` on. */
  about(name: string, from: number): string[] {
    return this.lines.slice(from).filter((c) => c.includes(name));
  }
}

/** Assert the upload path of transferFile for `dir/name`: STOR to the temporary name, SIZE and HASH of it, RNFR/RNTO into place. */
function assertUploadPath(seen: string[], dir: string, name: string): void {
  const part = `${dir}/.${name}.ferry-part`;
  const verbs = seen.filter((c) => /^(STOR|APPE|SIZE|HASH|RNFR|RNTO) /.test(c));
  assert.deepEqual(verbs, [`STOR ${part}`, `SIZE ${part}`, `HASH ${part}`, `RNFR ${part}`, `RNTO ${dir}/${name}`], seen.join(" | "));
}

/** Assert the download path: RETR of the file, then HASH of it (the local temporary name is checked on disk). */
function assertDownloadPath(seen: string[], remote: string): void {
  const verbs = seen.filter((c) => /^(RETR|HASH) /.test(c));
  assert.deepEqual(verbs, [`RETR ${remote}`, `HASH ${remote}`], seen.join(" | "));
}

/** No temporary file left anywhere under `dir`. */
async function assertNoParts(dir: string): Promise<void> {
  const names = await readdir(dir, { recursive: true });
  assert.deepEqual(names.filter((n) => n.endsWith(".ferry-part")), []);
}

describe("every caller goes through transferFile", () => {
  let server: RunningFerryServer;
  let tmp: { path: string; remove: () => Promise<void> };
  const log = new CommandLog();
  const body = pseudoRandomBytes(20_000, 5);
  const env = (): NodeJS.ProcessEnv => ({ FERRY_STATE_DIR: join(tmp.path, "state"), FERRY_LOG_LEVEL: "warn" });

  before(async () => {
    server = await startFerryServer({ logger: pino({ level: "debug" }, log) });
    tmp = await tempDir("ferry-callers-");
  });
  after(async () => {
    await server?.close();
    await tmp?.remove();
  });

  it("put: temporary name, size and hash check, rename", async () => {
    await mkdir(join(server.root, "put"));
    const local = join(tmp.path, "p.bin");
    await writeFile(local, body);
    const from = log.lines.length;
    const r = await runFerry(["put", local, `${server.url()}/put/p.bin`], { env: env() });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /verified by SHA-256/);
    assertUploadPath(log.about("p.bin", from), "put", "p.bin");
    assert.deepEqual(await readFile(join(server.root, "put", "p.bin")), body);
  });

  it("mirror (upload): the same path for a file of the tree", async () => {
    const local = join(tmp.path, "tree");
    await mkdir(local);
    await writeFile(join(local, "m.bin"), body);
    const pool = poolFor(server.url(), 1);
    const from = log.lines.length;
    try {
      const out = await runMirror({ direction: "upload", localRoot: local, remoteRoot: "mir", pool, isRetriable, parallel: 1 });
      assert.deepEqual(out.result!.failed, []);
      assert.equal(out.result!.transferred[0]?.verified, "SHA-256");
    } finally {
      await pool.drain();
    }
    assertUploadPath(log.about("m.bin", from), "mir", "m.bin");
    assert.deepEqual(await readFile(join(server.root, "mir", "m.bin")), body);
  });

  it("daemon outbox: the same path for a dropped file", async () => {
    const outbox = join(tmp.path, "outbox");
    await mkdir(outbox);
    const path = join(outbox, "o.bin");
    await writeFile(path, body);
    const st = await stat(path);
    const remotes = new RemoteRegistry([remoteEndpoint("srv", { url: server.url(), connections: 1 })], { backoff: { baseMs: 100, capMs: 1000, jitter: 0 }, logger: silentLogger() });
    const store = new JobStore(openDatabase(":memory:"));
    const cfg: UploadJob = { kind: "upload", name: "o", remote: "srv", remoteDir: "/inbox", watch: outbox, stableMs: 0, ignore: [], recursive: true, after: { kind: "delete" } };
    store.enqueue({ kind: "upload", payload: { job: "o", path, size: st.size, mtimeMs: st.mtimeMs }, dedupeKey: "k" });
    const leased = store.lease({ workerId: "t" });
    if (leased?.status !== "leased" || leased.job.kind !== "upload") throw new Error("no lease");
    const from = log.lines.length;
    try {
      const handler = createUploadHandler({ jobs: new Map([["o", cfg]]), remotes, logger: silentLogger(), openWriters: async () => [] });
      const result = await handler(leased.job, { signal: new AbortController().signal, workerId: "t" });
      assert.equal(result && "transfers" in result ? result.transfers?.[0]?.verified : undefined, "SHA-256");
    } finally {
      await remotes.drain();
    }
    assertUploadPath(log.about("o.bin", from), "/inbox", "o.bin");
    assert.deepEqual(await readFile(join(server.root, "inbox", "o.bin")), body);
  });

  it("get: the file, then its hash, into a temporary name renamed into place", async () => {
    await mkdir(join(server.root, "src"), { recursive: true });
    await writeFile(join(server.root, "src", "g.bin"), body);
    const dest = join(tmp.path, "got");
    await mkdir(dest);
    const from = log.lines.length;
    const r = await runFerry(["get", `${server.url()}/src/g.bin`, join(dest, "g.bin")], { env: env() });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /verified by SHA-256/);
    assertDownloadPath(log.about("g.bin", from), "src/g.bin");
    assert.deepEqual(await readFile(join(dest, "g.bin")), body);
    await assertNoParts(dest);
  });

  it("mirror (download): the same path for a file of the tree", async () => {
    await mkdir(join(server.root, "down"), { recursive: true });
    await writeFile(join(server.root, "down", "d.bin"), body);
    const dest = join(tmp.path, "down");
    const pool = poolFor(server.url(), 1);
    const from = log.lines.length;
    try {
      const out = await runMirror({ direction: "download", localRoot: dest, remoteRoot: "down", pool, isRetriable, parallel: 1 });
      assert.deepEqual(out.result!.failed, []);
      assert.equal(out.result!.transferred[0]?.verified, "SHA-256");
    } finally {
      await pool.drain();
    }
    assertDownloadPath(log.about("d.bin", from), "down/d.bin");
    assert.deepEqual(await readFile(join(dest, "d.bin")), body);
    await assertNoParts(dest);
  });
});
