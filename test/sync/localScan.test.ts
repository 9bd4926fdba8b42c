import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { scanLocal, type Tree } from "../../src/sync/tree.js";
import { createFilter } from "../../src/sync/filter.js";
import { SyncState, stateFileFor } from "../../src/sync/state.js";
import { tempDir } from "../helpers/tmp.js";

function paths(tree: Tree): string[] {
  return [...tree.dirs.values()].flat().map((e) => `${e.path}${e.type === "dir" ? "/" : ""}:${e.size}`).sort();
}

async function makeTree(root: string): Promise<void> {
  await mkdir(join(root, "src", "a b", "empty"), { recursive: true });
  await writeFile(join(root, "src", "top.txt"), "hello");
  await writeFile(join(root, "src", "a b", "caf\u00e9.txt"), "");
  await writeFile(join(root, "src", ".x.ferry-part"), "par");
  await writeFile(join(root, "outside.txt"), "secret");
}

test("scanLocal lists files and folders, sets partials apart, skips symlinks by default", async (t) => {
  const tmp = await tempDir();
  t.after(tmp.remove);
  await makeTree(tmp.path);
  await symlink(join(tmp.path, "outside.txt"), join(tmp.path, "src", "escape"));
  await symlink("top.txt", join(tmp.path, "src", "inner-link"));
  const tree = await scanLocal(join(tmp.path, "src"));
  assert.deepEqual(paths(tree), ["a b/:0", "a b/caf\u00e9.txt:0", "a b/empty/:0", "top.txt:5"]);
  assert.deepEqual([...tree.partials.keys()], ["x"]);
  assert.deepEqual(tree.skipped.map((s) => s.path).sort(), ["escape", "inner-link"]);
});

test("scanLocal follows symlinks inside the tree only, and cuts loops", async (t) => {
  const tmp = await tempDir();
  t.after(tmp.remove);
  await makeTree(tmp.path);
  const src = join(tmp.path, "src");
  await symlink(join(tmp.path, "outside.txt"), join(src, "escape"));
  await symlink("top.txt", join(src, "inner-link"));
  await symlink("..", join(src, "a b", "loop"));
  const tree = await scanLocal(src, { followSymlinks: true });
  assert.deepEqual(paths(tree), ["a b/:0", "a b/caf\u00e9.txt:0", "a b/empty/:0", "inner-link:5", "top.txt:5"]);
  assert.deepEqual(Object.fromEntries(tree.skipped.map((s) => [s.path, s.reason])),
    { escape: "symlink leads outside the source tree", "a b/loop": "symlink loop" });
});

test("scanLocal applies the filter and treats a missing root as empty", async (t) => {
  const tmp = await tempDir();
  t.after(tmp.remove);
  await makeTree(tmp.path);
  const tree = await scanLocal(join(tmp.path, "src"), { filter: createFilter({ exclude: ["a b"] }) });
  assert.deepEqual(paths(tree), ["top.txt:5"]);
  const none = await scanLocal(join(tmp.path, "nope"));
  assert.deepEqual(paths(none), []);
});

test("SyncState saves atomically and loads only for the same mirror", async (t) => {
  const tmp = await tempDir();
  t.after(tmp.remove);
  const file = stateFileFor(tmp.path, "/data", "ftp://h/x");
  const s = await SyncState.load(file, "/data", "ftp://h/x");
  assert.equal(s.size, 0);
  s.set("a", { size: 1, srcStamp: "5" });
  s.set("b", { size: 2, srcStamp: "6", hash: { algorithm: "SHA-256", value: "ff" } });
  s.retain(new Set(["b"]));
  await s.save();
  const again = await SyncState.load(file, "/data", "ftp://h/x");
  assert.deepEqual(again.get("b"), { size: 2, srcStamp: "6", hash: { algorithm: "SHA-256", value: "ff" } });
  assert.equal(again.get("a"), undefined);
  const other = await SyncState.load(file, "/data", "ftp://h/y");
  assert.equal(other.size, 0, "state of another mirror is not reused");
  await writeFile(file, "{torn");
  assert.equal((await SyncState.load(file, "/data", "ftp://h/x")).size, 0, "a corrupt file is an empty state");
});
