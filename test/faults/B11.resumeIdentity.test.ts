/**
 * B11 (issue 12 failure #4): a resume must never stitch two versions of a file together.
 * A partial records the identity of what it was cut from (remote: size, modify time, MLST
 * unique; local: size, mtime, ctime, inode); before `REST n` ferry re-checks it and starts
 * over from byte 0 when the source changed. The server here offers no checksum (the proxy
 * hides HASH and the X-commands from FEAT), so only the identity check stands between a
 * resume and a stitched file "verified by size only".
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { lstat, mkdir, readdir, readFile, rename, stat, symlink, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { isRetriable } from "../../src/client/index.js";
import { runMirror } from "../../src/sync/mirror.js";
import { downloadAttempt, localPartPath, uploadAttempt } from "../../src/sync/transfer.js";
import { loadRecord, recordPath, saveRecord } from "../../src/sync/partIdentity.js";
import { startFerryServer } from "../helpers/ferryServer.js";
import { startCutProxy, type CutProxyOptions } from "../helpers/cutProxy.js";
import { runFerry } from "../helpers/cli.js";
import { pseudoRandomBytes, tempDir } from "../helpers/tmp.js";
import { poolFor } from "../sync/remoteHelpers.js";

const SIZE = 2 * 1024 * 1024;
const OLD = pseudoRandomBytes(SIZE, 21);
const NEW = pseudoRandomBytes(SIZE, 22);
const CUT = 900_000;
const NO_HASH = /^(HASH|X(SHA|MD5|CRC))/i;
const T_OLD = new Date("2020-01-01T00:00:00Z");
// Newer than the original, yet older than the partial: a copy that kept its time (cp -p,
// rsync -t, tar) defeats a "partial newer than the source" rule.
const T_NEW = new Date("2021-06-01T00:00:00Z");

const sha = (b: Buffer): string => createHash("sha256").update(b).digest("hex");

async function setup(t: import("node:test").TestContext, cut: Omit<CutProxyOptions, "targetPort">) {
  const server = await startFerryServer();
  const proxy = await startCutProxy({ targetPort: server.port, hideFeatures: NO_HASH, maxCuts: 1, cutAfterBytes: CUT, ...cut });
  const tmp = await tempDir("ferry-b11-");
  const stateDir = join(tmp.path, "state");
  const saved = process.env.FERRY_STATE_DIR;
  process.env.FERRY_STATE_DIR = stateDir; // in-process attempts record where the CLI looks
  const pool = poolFor(`ftp://user:pass@127.0.0.1:${proxy.port}`, 2);
  t.after(async () => {
    if (saved === undefined) delete process.env.FERRY_STATE_DIR; else process.env.FERRY_STATE_DIR = saved;
    await pool.drain(); await proxy.close(); await server.close(); await tmp.remove();
  });
  const url = (path: string) => `ftp://user:pass@127.0.0.1:${proxy.port}/${path}`;
  const cli = (...args: string[]) => runFerry(args, { env: { FERRY_STATE_DIR: stateDir, FERRY_PASSWORD: "", FERRY_LOG_LEVEL: "warn" } });
  const mirror = (direction: "upload" | "download", localRoot: string) =>
    runMirror({ direction, localRoot, remoteRoot: "m", pool, isRetriable, retry: { attempts: 1, baseMs: 10, capMs: 10 }, parallel: 1 });
  return { server, proxy, tmp, pool, url, cli, mirror, stateDir };
}

/** Cut a `get` of big.bin after CUT bytes: its first attempt, as `ferry get` runs it. */
async function cutDownload(pool: ReturnType<typeof poolFor>, localPath: string): Promise<void> {
  await assert.rejects(pool.use((c) => downloadAttempt(c, { localPath, remotePath: "big.bin", size: SIZE, mtime: T_OLD }, {})));
  const part = await stat(localPartPath(localPath));
  assert.ok(part.size > 0 && part.size <= CUT, `a partial of ${part.size} bytes was left`);
}

/** Cut a `put` of big.bin after CUT bytes: its first attempt, as `ferry put` runs it. */
async function cutUpload(pool: ReturnType<typeof poolFor>, localPath: string, serverRoot: string): Promise<void> {
  await assert.rejects(pool.use((c) => uploadAttempt(c, { localPath, remotePath: "big.bin", size: SIZE, mtime: T_OLD }, {})));
  // The server publishes a cut new file's bytes once it has seen the data connection end,
  // which may be just after the client gave up: wait for it (bounded).
  const partPath = join(serverRoot, ".big.bin.ferry-part");
  for (let i = 0; i < 100 && !(await stat(partPath).then(() => true, () => false)); i++) await new Promise((r) => setTimeout(r, 20));
  const part = await stat(partPath);
  assert.ok(part.size > 0 && part.size <= CUT, `a remote partial of ${part.size} bytes was left`);
}

test("B11 get --continue: the remote file changed (same size, no HASH) → starts over, publishes the new version", async (t) => {
  const { server, proxy, tmp, pool, url, cli, stateDir } = await setup(t, { cutOn: /^RETR/ });
  const remote = join(server.root, "big.bin");
  await writeFile(remote, OLD);
  await utimes(remote, T_OLD, T_OLD);
  const local = join(tmp.path, "big.bin");
  await cutDownload(pool, local);
  assert.equal(proxy.cuts, 1);
  await writeFile(remote, NEW);
  await utimes(remote, T_NEW, T_NEW);

  const r = await cli("get", "--continue", url("big.bin"), local);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(sha(await readFile(local)), sha(NEW), "the published file is exactly the new version");
  assert.match(r.stdout, /restarted from byte 0: the remote file changed/);
  assert.doesNotMatch(r.stdout, /resumed at byte/);
  assert.ok(!proxy.commands.some((c) => /^REST [1-9]/.test(c)), "no REST n was sent");
  await assert.rejects(stat(localPartPath(local)), "no partial is left");
  assert.deepEqual(await records(stateDir), [], "the records went with the published partials");
});

test("B11 get --continue: an unchanged remote file still resumes (REST n, only the rest is sent)", async (t) => {
  const { server, proxy, tmp, pool, url, cli, stateDir } = await setup(t, { cutOn: /^RETR/ });
  const remote = join(server.root, "big.bin");
  await writeFile(remote, OLD);
  await utimes(remote, T_OLD, T_OLD);
  const local = join(tmp.path, "big.bin");
  await cutDownload(pool, local);
  const have = (await stat(localPartPath(local))).size;

  const r = await cli("get", "--continue", url("big.bin"), local);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(sha(await readFile(local)), sha(OLD));
  assert.match(r.stdout, new RegExp(`resumed at byte ${have}\\b`));
  assert.ok(proxy.commands.includes(`REST ${have}`), "REST n was sent");
  assert.deepEqual(await records(stateDir), [], "the records went with the published partials");
});

test("B11 put --continue: the local file changed (same size, older-than-the-partial mtime) → starts over", async (t) => {
  const { server, proxy, tmp, pool, url, cli, stateDir } = await setup(t, { cutOn: /^STOR/ });
  const local = join(tmp.path, "big.bin");
  await writeFile(local, OLD);
  await utimes(local, T_OLD, T_OLD);
  await cutUpload(pool, local, server.root);
  await writeFile(local, NEW);
  await utimes(local, T_NEW, T_NEW);

  const r = await cli("put", "--continue", local, url("big.bin"));
  assert.equal(r.code, 0, r.stderr);
  assert.equal(sha(await readFile(join(server.root, "big.bin"))), sha(NEW), "the server holds exactly the new version");
  assert.match(r.stdout, /restarted from byte 0: the local file changed/);
  assert.ok(!proxy.commands.some((c) => /^REST [1-9]/.test(c)), "no REST n was sent");
  assert.deepEqual(await records(stateDir), [], "the records went with the published partials");
});

test("B11 put --continue: an unchanged local file still resumes", async (t) => {
  const { server, proxy, tmp, pool, url, cli, stateDir } = await setup(t, { cutOn: /^STOR/ });
  const local = join(tmp.path, "big.bin");
  await writeFile(local, OLD);
  await utimes(local, T_OLD, T_OLD);
  await cutUpload(pool, local, server.root);
  const have = (await stat(join(server.root, ".big.bin.ferry-part"))).size;

  const r = await cli("put", "--continue", local, url("big.bin"));
  assert.equal(r.code, 0, r.stderr);
  assert.equal(sha(await readFile(join(server.root, "big.bin"))), sha(OLD));
  assert.match(r.stdout, new RegExp(`resumed at byte ${have}\\b`));
  assert.ok(proxy.commands.includes(`REST ${have}`));
  assert.deepEqual(await records(stateDir), [], "the records went with the published partials");
});

test("B11 mirror download: the remote file changed between runs (mtime still older than the partial) → starts over", async (t) => {
  const { server, tmp, mirror, stateDir } = await setup(t, { cutOn: /^RETR/ });
  const m = join(server.root, "m");
  await mkdir(m);
  for (const name of ["changed.bin", "same.bin"]) {
    await writeFile(join(m, name), OLD);
    await utimes(join(m, name), T_OLD, T_OLD);
  }
  const local = join(tmp.path, "l");
  const first = await mirror("download", local);
  const failed = first.result!.failed.map((f) => f.path);
  assert.equal(failed.length, 1, `one file was cut: ${JSON.stringify(first.result!.failed)}`);
  const cutName = failed[0]!;
  const otherName = cutName === "changed.bin" ? "same.bin" : "changed.bin";
  // The cut file changes on the server; then the run is repeated.
  await writeFile(join(m, cutName), NEW);
  await utimes(join(m, cutName), T_NEW, T_NEW);
  const second = await mirror("download", local);
  assert.deepEqual(second.result!.failed, []);
  const row = second.result!.transferred.find((r) => r.path === cutName)!;
  assert.equal(row.offset, 0, "started over");
  assert.match(row.restarted ?? "", /the remote file changed/);
  assert.equal(sha(await readFile(join(local, cutName))), sha(NEW));
  assert.equal(sha(await readFile(join(local, otherName))), sha(OLD));
  assert.deepEqual(await records(stateDir), [], "the records went with the published partials");
});

test("B11 mirror download: an unchanged remote file resumes from the partial", async (t) => {
  const { server, tmp, mirror, stateDir } = await setup(t, { cutOn: /^RETR/ });
  const m = join(server.root, "m");
  await mkdir(m);
  await writeFile(join(m, "big.bin"), OLD);
  await utimes(join(m, "big.bin"), T_OLD, T_OLD);
  const local = join(tmp.path, "l");
  const first = await mirror("download", local);
  assert.equal(first.result!.failed.length, 1);
  const second = await mirror("download", local);
  assert.deepEqual(second.result!.failed, []);
  const row = second.result!.transferred.find((r) => r.path === "big.bin")!;
  assert.ok(row.offset > 0 && row.offset <= CUT, `resumed at ${row.offset}`);
  assert.equal(row.bytes, SIZE - row.offset, "only the rest was sent");
  assert.equal(sha(await readFile(join(local, "big.bin"))), sha(OLD));
  assert.deepEqual(await records(stateDir), [], "the records went with the published partials");
});

test("B11 mirror upload: the local file changed between runs (mtime still older than the remote partial) → starts over", async (t) => {
  const { server, tmp, mirror, stateDir } = await setup(t, { cutOn: /^STOR/ });
  const local = join(tmp.path, "l");
  await mkdir(local);
  for (const name of ["changed.bin", "same.bin"]) {
    await writeFile(join(local, name), OLD);
    await utimes(join(local, name), T_OLD, T_OLD);
  }
  const first = await mirror("upload", local);
  assert.equal(first.result!.failed.length, 1, JSON.stringify(first.result!.failed));
  const cutName = first.result!.failed[0]!.path;
  await writeFile(join(local, cutName), NEW);
  await utimes(join(local, cutName), T_NEW, T_NEW);
  const second = await mirror("upload", local);
  assert.deepEqual(second.result!.failed, []);
  const row = second.result!.transferred.find((r) => r.path === cutName)!;
  assert.equal(row.offset, 0, "started over");
  assert.match(row.restarted ?? "", /the local file changed/);
  assert.equal(sha(await readFile(join(server.root, "m", cutName))), sha(NEW));
  assert.deepEqual(await records(stateDir), [], "the records went with the published partials");
});

test("B11 mirror upload: an unchanged local file resumes from the remote partial", async (t) => {
  const { server, tmp, mirror, stateDir } = await setup(t, { cutOn: /^STOR/ });
  const local = join(tmp.path, "l");
  await mkdir(local);
  await writeFile(join(local, "big.bin"), OLD);
  await utimes(join(local, "big.bin"), T_OLD, T_OLD);
  const first = await mirror("upload", local);
  assert.equal(first.result!.failed.length, 1);
  const second = await mirror("upload", local);
  assert.deepEqual(second.result!.failed, []);
  const row = second.result!.transferred.find((r) => r.path === "big.bin")!;
  assert.ok(row.offset > 0 && row.offset <= CUT, `resumed at ${row.offset}`);
  assert.equal(row.bytes, SIZE - row.offset);
  assert.equal(sha(await readFile(join(server.root, "m", "big.bin"))), sha(OLD));
  assert.deepEqual(await records(stateDir), [], "the records went with the published partials");
});

/** The record files left in the state folder's partials/ (none once everything is published). */
async function records(stateDir: string): Promise<string[]> {
  return readdir(join(stateDir, "partials")).catch(() => []);
}

test("B11 get --continue: a partial with no record (older ferry, other tool) starts over without HASH, resumes with HASH", async (t) => {
  const { server, tmp, url, cli } = await setup(t, { cutOn: /^NEVER/ });
  await writeFile(join(server.root, "big.bin"), OLD);
  const local = join(tmp.path, "big.bin");
  await writeFile(localPartPath(local), NEW.subarray(0, 500_000)); // bytes of who knows what
  const r = await cli("get", "--continue", url("big.bin"), local);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(sha(await readFile(local)), sha(OLD));
  assert.match(r.stdout, /restarted from byte 0: no record of what the partial was cut from/);

  // With a checksum on the server, the resume is proven (or undone) by it: lftp/curl users expect -c to resume.
  const direct = poolFor(`ftp://user:pass@127.0.0.1:${server.port}`, 1);
  t.after(() => direct.drain());
  const local2 = join(tmp.path, "big2.bin");
  await writeFile(localPartPath(local2), OLD.subarray(0, 500_000));
  const r2 = await direct.use((c) => downloadAttempt(c, { localPath: local2, remotePath: "big.bin", size: SIZE, resumeFrom: 500_000 }, {}));
  assert.equal(r2.offset, 500_000);
  assert.equal(r2.verified, "SHA-256");
  assert.equal(sha(await readFile(local2)), sha(OLD));
  assert.deepEqual(await records(join(tmp.path, "state")), [], "no record is left behind");
});

/** Run one attempt on a fresh connection, as transferWithRetry gets after a cut (the pool drops a dead one). */
function freshConnection(t: import("node:test").TestContext, port: number) {
  return <T>(fn: (c: Parameters<Parameters<ReturnType<typeof poolFor>["use"]>[0]>[0]) => Promise<T>): Promise<T> => {
    const p = poolFor(`ftp://user:pass@127.0.0.1:${port}`, 1);
    t.after(() => p.drain());
    return p.use(fn);
  };
}

test("B11 in-run retry, download: the remote file changes between attempt 1 and attempt 2 → attempt 2 starts over", async (t) => {
  const { server, proxy, tmp } = await setup(t, { cutOn: /^RETR/ });
  const fresh = freshConnection(t, proxy.port);
  const remote = join(server.root, "big.bin");
  await writeFile(remote, OLD);
  await utimes(remote, T_OLD, T_OLD);
  const down = { localPath: join(tmp.path, "down.bin"), remotePath: "big.bin", size: SIZE, mtime: T_OLD };
  await assert.rejects(fresh((c) => downloadAttempt(c, down, {})));
  await writeFile(remote, NEW);
  await utimes(remote, T_NEW, T_NEW);
  const d2 = await fresh((c) => downloadAttempt(c, { ...down, mtime: T_NEW }, { resumePartial: true }));
  assert.equal(d2.offset, 0);
  assert.match(d2.restarted ?? "", /the remote file changed since the partial was cut \(modified 2020-01-01T00:00:00.000Z → 2021-06-01/);
  assert.equal(sha(await readFile(down.localPath)), sha(NEW));
  assert.deepEqual(await records(join(tmp.path, "state")), []);
});

test("B11 in-run retry, upload: rewritten in place with its old mtime put back (touch -r, cp -p) → the ctime tells, attempt 2 starts over", async (t) => {
  const { server, proxy, tmp } = await setup(t, { cutOn: /^STOR/ });
  const fresh = freshConnection(t, proxy.port);
  const src = join(tmp.path, "up.bin");
  await writeFile(src, OLD);
  await utimes(src, T_OLD, T_OLD);
  const up = { localPath: src, remotePath: "up.bin", size: SIZE, mtime: T_OLD };
  await assert.rejects(fresh((c) => uploadAttempt(c, up, {})));
  assert.equal(proxy.cuts, 1);
  const ctimeBefore = (await stat(src)).ctimeMs;
  for (let i = 0; i < 1000 && (await stat(src)).ctimeMs === ctimeBefore; i++) { // ctime ticks coarsely: rewrite until it moved
    await writeFile(src, NEW);
    await utimes(src, T_OLD, T_OLD);
  }
  assert.notEqual((await stat(src)).ctimeMs, ctimeBefore);
  assert.equal((await stat(src)).mtimeMs, T_OLD.getTime(), "the mtime is the recorded one");
  const u2 = await fresh((c) => uploadAttempt(c, up, { resumePartial: true }));
  assert.equal(u2.offset, 0);
  assert.match(u2.restarted ?? "", /the local file changed since the partial was cut \(status changed/);
  assert.equal(sha(await readFile(join(server.root, "up.bin"))), sha(NEW));
  assert.deepEqual(await records(join(tmp.path, "state")), []);
});

test("B11 records: written without following a symlink planted at their name, torn ones count as none", async (t) => {
  const tmp = await tempDir("ferry-b11r-");
  t.after(() => tmp.remove());
  const key = { kind: "download" as const, localPath: join(tmp.path, "x.bin"), remotePath: "x.bin", records: { stateDir: join(tmp.path, "st") } };
  const victim = join(tmp.path, "victim");
  await writeFile(victim, "keep");
  await mkdir(join(tmp.path, "st", "partials"), { recursive: true });
  await symlink(victim, recordPath(key));
  assert.equal(await saveRecord(key, { size: 5, mtimeMs: 1000 }), true);
  assert.equal(await readFile(victim, "utf8"), "keep", "the link's target is untouched");
  assert.ok((await lstat(recordPath(key))).isFile(), "the record replaced the link");
  assert.deepEqual((await loadRecord(key))?.source, { size: 5, mtimeMs: 1000 });
  await writeFile(recordPath(key), '{"version":1,"kind":"downl');
  assert.equal(await loadRecord(key), undefined);
});

test("B11 MLST unique: a file replaced by another of the same size and the same modify time → starts over", async (t) => {
  const { server, proxy, tmp, stateDir } = await setup(t, { cutOn: /^RETR/ });
  const fresh = freshConnection(t, proxy.port);
  const remote = join(server.root, "big.bin");
  await writeFile(remote, OLD);
  await utimes(remote, T_OLD, T_OLD);
  const facts = await fresh((c) => c.stat("big.bin"));
  assert.ok(facts?.facts?.unique, "the server gives a unique fact");
  const local = join(tmp.path, "big.bin");
  const tr = { localPath: local, remotePath: "big.bin", size: SIZE, mtime: T_OLD, unique: facts.facts.unique };
  await assert.rejects(fresh((c) => downloadAttempt(c, tr, {})));
  // Replaced by rename (a new inode), its time set to the old one: only `unique` tells.
  await writeFile(join(server.root, "incoming.tmp"), NEW);
  await utimes(join(server.root, "incoming.tmp"), T_OLD, T_OLD);
  await rename(join(server.root, "incoming.tmp"), remote);
  const have = (await stat(localPartPath(local))).size;
  const out = await fresh((c) => downloadAttempt(c, { ...tr, resumeFrom: have }, {}));
  assert.equal(out.offset, 0);
  assert.match(out.restarted ?? "", /the remote file changed since the partial was cut \(unique id /);
  assert.equal(sha(await readFile(local)), sha(NEW));
  assert.deepEqual(await records(stateDir), []);
});
