import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { batchUploads } from "../../src/sync/batch.js";
import type { TransferOp } from "../../src/sync/plan.js";
import { runMirror } from "../../src/sync/mirror.js";
import { SyncState } from "../../src/sync/state.js";
import { FtpReplyError } from "../../src/protocol/index.js";
import { pseudoRandomBytes, tempDir } from "../helpers/tmp.js";
import { FakeCut, FakeRemote } from "./fakeRemote.js";
import { readTree, writeTree } from "./treeUtil.js";
import type { SyncRemoteEntry } from "../../src/sync/remote.js";

const up = (path: string, size = 10, extra: Partial<TransferOp> = {}): TransferOp => ({ kind: "upload", path, size, reason: "new", ...extra });
const many = (dir: string, n: number) => Array.from({ length: n }, (_, i) => up(`${dir}/f${i}`));
const shape = (r: { batches: TransferOp[][]; singles: TransferOp[] }) => ({ batches: r.batches.map((b) => b.length), singles: r.singles.map((s) => s.path) });

const rows: { title: string; ops: TransferOp[]; parallel: number; listed?: number; batches: number[]; singles: string[] }[] = [
  { title: "a folder is spread over the connections", ops: many("a", 10), parallel: 2, batches: [5, 5], singles: [] },
  { title: "batches have at least 4 files", ops: many("a", 10), parallel: 8, batches: [4, 4, 2], singles: [] },
  { title: "at most 64 files", ops: many("a", 130), parallel: 1, batches: [64, 64, 2], singles: [] },
  { title: "large, resumed and lone files go one by one",
    ops: [up("a/big", 2 << 20), up("a/part", 10, { resumeFrom: 5 }), up("b/alone"), up("a/x"), up("a/y")], parallel: 4,
    batches: [2], singles: ["a/big", "a/part", "b/alone"] },
  { title: "a folder whose listing is long per file is not batched", ops: many("a", 8), parallel: 2, listed: 100, batches: [], singles: many("a", 8).map((o) => o.path) },
  { title: "downloads are never batched", ops: [{ ...up("a/1"), kind: "download" }, { ...up("a/2"), kind: "download" }], parallel: 1, batches: [], singles: ["a/1", "a/2"] },
];

for (const row of rows) {
  test(`batchUploads: ${row.title}`, () => {
    assert.deepEqual(shape(batchUploads(row.ops, row.parallel, () => row.listed ?? 0)), { batches: row.batches, singles: row.singles });
  });
}

/** A remote whose listing hides dotfiles (plain LIST on some servers): batches cannot verify. */
class HidingRemote extends FakeRemote {
  override async list(path?: string): Promise<SyncRemoteEntry[]> {
    return (await super.list(path)).filter((e) => !e.name.startsWith("."));
  }
}

async function setup(t: import("node:test").TestContext, remote: (root: string) => FakeRemote) {
  const tmp = await tempDir();
  t.after(tmp.remove);
  const local = join(tmp.path, "local");
  await mkdir(join(tmp.path, "remote"));
  const r = remote(join(tmp.path, "remote"));
  const spec: Record<string, Buffer> = {};
  for (let i = 0; i < 24; i++) spec[`d${i % 2}/f${i}.bin`] = pseudoRandomBytes(1000 + i, i + 1);
  await writeTree(local, spec);
  const isRetriable = (err: unknown) => err instanceof FakeCut || (err instanceof FtpReplyError && err.isTransient);
  const run = () => runMirror({
    direction: "upload", localRoot: local, remoteRoot: "/m", pool: r.pool(), isRetriable, parallel: 2,
    retry: { attempts: 3, baseMs: 1, capMs: 5 }, state: SyncState.empty(),
  });
  return { local, remoteDir: join(tmp.path, "remote", "m"), remote: r, run };
}

test("batched uploads: verified by one listing per batch, no SIZE per file, every file published", async (t) => {
  const { local, remoteDir, remote, run } = await setup(t, (root) => new FakeRemote(root, { hash: false }));
  const out = await run();
  assert.deepEqual(out.result!.failed, []);
  assert.equal(out.result!.transferred.length, 24);
  assert.ok(out.result!.transferred.every((r) => r.verified === "size only" && r.sizeFrom === "listing" && r.attempts === 1));
  assert.deepEqual(await readTree(remoteDir, { withParts: true }), await readTree(local));
  assert.equal(remote.commands.filter((c) => c.startsWith("SIZE")).length, 0, remote.commands.join("\n"));
  // 2 folders of 12 files, 2 connections: batches of 6, one listing each (plus the scan's).
  assert.equal(remote.commands.filter((c) => /^LIST \/m\/d\d$/.test(c)).length, 4);
});

test("batched uploads with a checksum: HASH still checks every file", async (t) => {
  const { local, remoteDir, run } = await setup(t, (root) => new FakeRemote(root));
  const out = await run();
  assert.deepEqual(out.result!.failed, []);
  assert.ok(out.result!.transferred.every((r) => r.verified === "SHA-256"));
  assert.deepEqual(await readTree(remoteDir, { withParts: true }), await readTree(local));
});

test("a listing that hides the temporary files: the plain path (SIZE) verifies them instead", async (t) => {
  const { local, remoteDir, remote, run } = await setup(t, (root) => new HidingRemote(root, { hash: false }));
  const out = await run();
  assert.deepEqual(out.result!.failed, []);
  assert.deepEqual(await readTree(remoteDir, { withParts: true }), await readTree(local));
  assert.equal(remote.commands.filter((c) => c.startsWith("SIZE")).length, 24);
  assert.ok(out.result!.transferred.every((r) => r.sizeFrom === undefined), "sizes came from SIZE");
});

test("a cut inside a batch: that file is resumed on the plain path, the others are published by the batch", async (t) => {
  const { local, remoteDir, remote, run } = await setup(t, (root) => new FakeRemote(root, { hash: false }));
  remote.cutOnce.set("/m/d1/f5.bin", 400);
  remote.deny.add("/m/d0/f4.bin");
  const out = await run();
  assert.deepEqual(out.result!.failed.map((f) => f.path), ["d0/f4.bin"]);
  assert.match(out.result!.failed[0]!.error, /^upload d0\/f4\.bin: .*553 Permission denied/);
  const cut = out.result!.transferred.find((r) => r.path === "d1/f5.bin")!;
  assert.equal(cut.offset, 400);
  assert.ok(remote.commands.includes("STOR /m/d1/.f5.bin.ferry-part @400"), remote.commands.join("\n"));
  const expected = await readTree(local);
  delete expected["d0/f4.bin"];
  assert.deepEqual(await readTree(remoteDir, { withParts: true }), expected);
});
