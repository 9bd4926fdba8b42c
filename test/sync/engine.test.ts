import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readFile, symlink, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runMirror, type MirrorOptions } from "../../src/sync/mirror.js";
import { SyncState } from "../../src/sync/state.js";
import { FtpReplyError } from "../../src/protocol/index.js";
import { pseudoRandomBytes, tempDir } from "../helpers/tmp.js";
import { FakeCut, FakeRemote, type FakeRemoteOptions } from "./fakeRemote.js";
import { readTree, sampleTree, writeTree } from "./treeUtil.js";

const isRetriable = (err: unknown) => err instanceof FakeCut || (err instanceof FtpReplyError && err.isTransient);
const fastRetry = { attempts: 4, baseMs: 1, capMs: 5 };

async function setup(t: import("node:test").TestContext, remoteOpts: FakeRemoteOptions = {}) {
  const tmp = await tempDir();
  t.after(tmp.remove);
  const local = join(tmp.path, "local");
  const remoteRoot = join(tmp.path, "remote");
  await mkdir(remoteRoot);
  const remote = new FakeRemote(remoteRoot, remoteOpts);
  const run = (o: Partial<MirrorOptions> & Pick<MirrorOptions, "direction">) => runMirror({
    localRoot: local, remoteRoot: "/mirror", pool: remote.pool(), isRetriable, retry: fastRetry, ...o,
  });
  return { tmp, local, remoteDir: join(remoteRoot, "mirror"), remote, run };
}

test("upload mirror: whole tree, then nothing, then only the changed file, then --delete", async (t) => {
  const { local, remoteDir, run } = await setup(t);
  await writeTree(local, sampleTree());
  const state = SyncState.empty();
  const first = await run({ direction: "upload", state });
  assert.deepEqual(first.result!.failed, []);
  assert.deepEqual(await readTree(remoteDir), await readTree(local));
  assert.equal(first.result!.transferred.length, 307);
  assert.ok(first.result!.transferred.every((r) => r.verified === "SHA-256"));

  const second = await run({ direction: "upload", state });
  assert.equal(second.result!.transferred.length, 0, "a no-change re-run transfers nothing");
  assert.equal(second.plan.ops.length, 0);

  await writeFile(join(local, "nested/deeper/deepest/leaf.txt"), "changed leaf\n");
  await writeFile(join(remoteDir, "extra.txt"), "extraneous");
  await mkdir(join(remoteDir, "extra dir/sub"), { recursive: true });
  await writeFile(join(remoteDir, "extra dir/sub/x"), "x");
  const third = await run({ direction: "upload", state });
  assert.deepEqual(third.result!.transferred.map((r) => r.path), ["nested/deeper/deepest/leaf.txt"]);
  assert.ok((await readTree(remoteDir))["extra.txt"], "no --delete: extraneous file stays");

  const fourth = await run({ direction: "upload", state, delete: true });
  assert.deepEqual(fourth.result!.deleted.sort(), ["extra dir", "extra dir/sub", "extra dir/sub/x", "extra.txt"]);
  assert.deepEqual(await readTree(remoteDir), await readTree(local));
});

test("download mirror: whole tree with mtimes, then nothing", async (t) => {
  const { local, remoteDir, run } = await setup(t);
  await writeTree(remoteDir, sampleTree({ bigBytes: 1 << 20, smallFiles: 50 }));
  const first = await run({ direction: "download" });
  assert.deepEqual(first.result!.failed, []);
  assert.deepEqual(await readTree(local), await readTree(remoteDir));
  const second = await run({ direction: "download" });
  assert.equal(second.result!.transferred.length, 0);
});

test("a cut mid-file resumes from the bytes already there and verifies (upload and download)", async (t) => {
  const { local, remoteDir, remote, run } = await setup(t);
  const data = pseudoRandomBytes(500_000, 3);
  await writeTree(local, { "a/big.bin": data });
  remote.cutOnce.set("/mirror/a/big.bin", 200_000);
  const up = await run({ direction: "upload" });
  assert.deepEqual(up.result!.failed, []);
  assert.deepEqual(await readFile(join(remoteDir, "a/big.bin")), data);
  assert.ok(remote.commands.includes("STOR /mirror/a/.big.bin.ferry-part @200000"), remote.commands.join("\n"));
  assert.equal(up.result!.transferred[0]!.attempts, 2);
  assert.equal(up.result!.transferred[0]!.offset, 200_000);

  const { local: local2, remoteDir: rd2, remote: r2, run: run2 } = await setup(t);
  await writeTree(rd2, { "big.bin": data });
  r2.cutOnce.set("/mirror/big.bin", 123_456);
  const down = await run2({ direction: "download" });
  assert.deepEqual(down.result!.failed, []);
  assert.deepEqual(await readFile(join(local2, "big.bin")), data);
  assert.ok(r2.commands.includes("RETR /mirror/big.bin @123456"), r2.commands.join("\n"));
});

test("a 550 for one file fails only that file, and --delete then deletes nothing", async (t) => {
  const { local, remoteDir, remote, run } = await setup(t);
  await writeTree(remoteDir, { "ok1.txt": "1", "denied.txt": "no", "ok2.txt": "2" });
  await writeTree(local, { "stale.txt": "old" });
  remote.deny.add("/mirror/denied.txt");
  const out = await run({ direction: "download", delete: true });
  assert.equal(out.result!.failed.length, 1);
  assert.match(out.result!.failed[0]!.error, /download denied\.txt: RETR \/mirror\/denied\.txt: 550 Permission denied/);
  assert.match(out.result!.deletesSkipped ?? "", /not deleting 1 extraneous/);
  assert.deepEqual(Object.keys(await readTree(local)).sort(), ["ok1.txt", "ok2.txt", "stale.txt"]);
});

test("LIST-only server that cannot set mtimes: the sync state makes the re-run transfer nothing", async (t) => {
  const { local, remoteDir, run } = await setup(t, { mlsd: false, mfmt: false, hash: false });
  await writeTree(local, { "a.txt": "a", "b/c.txt": "c" });
  const state = SyncState.empty();
  const first = await run({ direction: "upload", state });
  assert.ok(first.result!.transferred.every((r) => r.verified === "size only"));
  assert.deepEqual(await readTree(remoteDir), await readTree(local));
  const second = await run({ direction: "upload", state });
  assert.equal(second.result!.transferred.length, 0);
  await writeFile(join(local, "a.txt"), "b"); // same size, new mtime
  await utimes(join(local, "a.txt"), new Date(Date.now() + 5000), new Date(Date.now() + 5000));
  const third = await run({ direction: "upload", state });
  assert.deepEqual(third.result!.transferred.map((r) => r.path), ["a.txt"]);
});

test("leftover partials: a fresh one is resumed, a stale one removed, neither published", async (t) => {
  const { local, remoteDir, remote, run } = await setup(t);
  const data = pseudoRandomBytes(100_000, 9);
  await writeTree(local, { "f.bin": data });
  await utimes(join(local, "f.bin"), new Date(1_600_000_000_000), new Date(1_600_000_000_000));
  await writeTree(remoteDir, { ".f.bin.ferry-part": data.subarray(0, 40_000), ".gone.ferry-part": "zz" });
  const out = await run({ direction: "upload" });
  assert.deepEqual(out.result!.failed, []);
  assert.equal(out.result!.transferred[0]!.offset, 40_000);
  assert.deepEqual(await readTree(remoteDir, { withParts: true }), await readTree(local));
  assert.ok(remote.commands.includes("DELE /mirror/.gone.ferry-part"));
});

test("--dry-run plans and touches nothing", async (t) => {
  const { local, remoteDir, run } = await setup(t);
  await writeTree(local, { "a.txt": "a" });
  await writeTree(remoteDir, { "b.txt": "b" });
  const out = await run({ direction: "upload", dryRun: true, delete: true });
  assert.equal(out.result, undefined);
  assert.deepEqual(out.plan.ops.map((o) => `${o.kind} ${o.path}`), ["upload a.txt", "delete b.txt"]);
  assert.deepEqual(Object.keys(await readTree(remoteDir)), ["b.txt"]);
});

test("--checksum re-sends a same-size, same-mtime file whose content differs", async (t) => {
  const { local, remoteDir, run } = await setup(t);
  await writeTree(local, { "a.txt": "aaaa" });
  await run({ direction: "upload" });
  await writeFile(join(remoteDir, "a.txt"), "bbbb");
  const st = new Date(Math.floor(Date.now() / 1000) * 1000);
  await utimes(join(remoteDir, "a.txt"), st, st);
  await utimes(join(local, "a.txt"), st, st);
  assert.equal((await run({ direction: "upload" })).result!.transferred.length, 0, "size+mtime cannot see it");
  const out = await run({ direction: "upload", checksum: true });
  assert.deepEqual(out.result!.transferred.map((r) => `${r.path}: ${r.reason}`), ["a.txt: SHA-256 differs"]);
  assert.equal(await readFile(join(remoteDir, "a.txt"), "utf8"), "aaaa");
});

test("hostile names from the server are skipped; a local symlink cannot redirect a download", async (t) => {
  const { tmp, local, remoteDir, run } = await setup(t);
  await writeTree(remoteDir, { "bad\nname.txt": "x", "a/file.txt": "payload" });
  await mkdir(join(tmp.path, "outside"));
  await mkdir(local, { recursive: true });
  await symlink(join(tmp.path, "outside"), join(local, "a"));
  const out = await run({ direction: "download" });
  assert.ok(out.skipped.some((s) => /unsafe name/.test(s.reason)));
  assert.equal(out.result!.failed.length >= 1, true);
  assert.match(out.result!.failed.map((f) => f.error).join("\n"), /leads outside the destination/);
  assert.deepEqual(await readTree(join(tmp.path, "outside")), {});
});

test("a missing source is an error, never an empty tree (which --delete would turn into a wipe)", async (t) => {
  const { local, remoteDir, run } = await setup(t);
  await writeTree(remoteDir, { "keep.txt": "k" });
  await assert.rejects(run({ direction: "upload", delete: true }), /the source folder .*local does not exist/);
  assert.deepEqual(Object.keys(await readTree(remoteDir)), ["keep.txt"]);
  await writeTree(local, { "keep.txt": "k" });
  await assert.rejects(run({ direction: "download", delete: true, remoteRoot: "/nope" }), /the source folder \/nope does not exist/);
  assert.deepEqual(Object.keys(await readTree(local)), ["keep.txt"]);
});

test("a server without SIZE: the size check falls back to the listing", async (t) => {
  const { local, remoteDir, run } = await setup(t, { sizeCommand: false, hash: false });
  await writeTree(local, { "a/x.bin": pseudoRandomBytes(5000, 2), "y.txt": "" });
  const out = await run({ direction: "upload" });
  assert.deepEqual(out.result!.failed, []);
  assert.deepEqual(await readTree(remoteDir), await readTree(local));
});
