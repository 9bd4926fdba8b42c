/**
 * B2, I5, I12 (issue 12 failure #5): links planted in the destination never lead a download's
 * writes elsewhere. A symbolic link at the temporary name `dest/.NAME.ferry-part` is removed,
 * never written through, and never published; a link at the final name `dest/NAME` is
 * replaced by the downloaded file (the rename replaces the link itself); `get --continue`
 * does not resume through a link; a folder at the temporary name is refused with a clear
 * error. For `ferry get` and `ferry mirror`, small (in-memory) and large (streamed) files.
 * The canaries outside the destination keep their bytes and mtime.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { lstat, mkdir, readFile, readlink, stat, symlink, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { startFerryServer } from "../helpers/ferryServer.js";
import { runFerry } from "../helpers/cli.js";
import { pseudoRandomBytes, tempDir } from "../helpers/tmp.js";

const SMALL = pseudoRandomBytes(5000, 3);
const LARGE = pseudoRandomBytes(3 * 1024 * 1024, 4);
const CANARY = Buffer.from("canary: must never change\n");

/** A canary outside the destination, with an old mtime; check() asserts both are unchanged. */
async function canary(path: string): Promise<{ path: string; check: () => Promise<void> }> {
  await writeFile(path, CANARY);
  const old = new Date("2020-01-01T00:00:00Z");
  await utimes(path, old, old);
  return {
    path,
    check: async () => {
      assert.ok((await readFile(path)).equals(CANARY), `${path} was written through a link`);
      assert.equal((await lstat(path)).mtimeMs, old.getTime(), `${path}: mtime changed`);
    },
  };
}

async function assertRegular(path: string, bytes: Buffer): Promise<void> {
  const s = await lstat(path);
  assert.ok(s.isFile(), `${path} is a ${s.isSymbolicLink() ? `link to ${await readlink(path)}` : "non-regular file"}, not the downloaded file`);
  assert.ok((await readFile(path)).equals(bytes), `${path}: wrong bytes`);
}

async function absent(path: string): Promise<boolean> {
  return lstat(path).then(() => false, () => true);
}

test("get: a link at the temporary name or at the final name is never written through (small and large files, --continue too)", async (t) => {
  const server = await startFerryServer();
  const tmp = await tempDir("ferry-b2-");
  t.after(async () => { await server.close(); await tmp.remove(); });
  await writeFile(join(server.root, "small.bin"), SMALL);
  await writeFile(join(server.root, "large.bin"), LARGE);
  const outside = join(tmp.path, "outside");
  const dest = join(tmp.path, "dest");
  await mkdir(outside);
  await mkdir(dest);
  const env = { HOME: tmp.path, FERRY_LOG_LEVEL: "error" };
  const canaries = [];
  const runs = [];
  for (const [name, bytes] of [["small.bin", SMALL], ["large.bin", LARGE]] as const) {
    for (const where of ["part", "final", "continue"] as const) {
      const c = await canary(join(outside, `${where}-${name}`));
      canaries.push(c);
      const dir = join(dest, `${where}-${name}`);
      await mkdir(dir);
      await symlink(c.path, join(dir, where === "final" ? name : `.${name}.ferry-part`));
      const args = ["get", `${server.url()}/${name}`, join(dir, name), ...(where === "continue" ? ["--continue"] : [])];
      runs.push(runFerry(args, { env, timeoutMs: 40_000 }).then((r) => ({ r, dir, name, bytes })));
    }
  }
  for (const { r, dir, name, bytes } of await Promise.all(runs)) {
    assert.equal(r.code, 0, `${dir}: ${r.stderr}`);
    await assertRegular(join(dir, name), bytes);
    assert.ok(await absent(join(dir, `.${name}.ferry-part`)), `${dir}: the temporary name is left`);
  }
  for (const c of canaries) await c.check();
});

test("get: a folder at the temporary name is refused with a clear error, nothing published", async (t) => {
  const server = await startFerryServer();
  const tmp = await tempDir("ferry-b2-");
  t.after(async () => { await server.close(); await tmp.remove(); });
  await writeFile(join(server.root, "small.bin"), SMALL);
  await mkdir(join(tmp.path, ".small.bin.ferry-part"));
  const r = await runFerry(["get", `${server.url()}/small.bin`, join(tmp.path, "small.bin")], { env: { HOME: tmp.path }, timeoutMs: 40_000 });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /a folder stands at the temporary name/);
  assert.doesNotMatch(r.stderr, /^\s+at /m);
  assert.ok(await absent(join(tmp.path, "small.bin")));
});

test("mirror: links at temporary and final names in the destination are replaced, never followed (small and large files)", async (t) => {
  const server = await startFerryServer();
  const tmp = await tempDir("ferry-b2-");
  t.after(async () => { await server.close(); await tmp.remove(); });
  const src = join(server.root, "m");
  await mkdir(join(src, "sub"), { recursive: true });
  const files: Record<string, Buffer> = { "a.bin": SMALL, "b.bin": LARGE, "sub/c.bin": SMALL, "sub/d.bin": LARGE };
  for (const [p, b] of Object.entries(files)) await writeFile(join(src, p), b);
  const outside = join(tmp.path, "outside");
  const dest = join(tmp.path, "dest");
  await mkdir(outside);
  await mkdir(join(dest, "sub"), { recursive: true });
  const canaries = [];
  // a.bin, b.bin: links at the temporary names; sub/c.bin, sub/d.bin: links at the final names.
  for (const [p, at] of [["a.bin", ".a.bin.ferry-part"], ["b.bin", ".b.bin.ferry-part"], ["sub/c.bin", "sub/c.bin"], ["sub/d.bin", "sub/d.bin"]] as const) {
    const c = await canary(join(outside, p.replace("/", "-")));
    canaries.push(c);
    await symlink(c.path, join(dest, at));
  }
  const r = await runFerry(["mirror", `${server.url()}/m`, dest], { env: { HOME: tmp.path, FERRY_STATE_DIR: join(tmp.path, "state") }, timeoutMs: 40_000 });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  for (const [p, b] of Object.entries(files)) await assertRegular(join(dest, p), b);
  for (const n of [".a.bin.ferry-part", ".b.bin.ferry-part"]) assert.ok(await absent(join(dest, n)), `${n} left`);
  for (const c of canaries) await c.check();
  assert.equal((await stat(join(dest, "b.bin"))).size, LARGE.length);
});
