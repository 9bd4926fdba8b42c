import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { writeTree } from "../sync/treeUtil.js";
import { cliSetup } from "./cliSetup.js";

test("get onto an existing file replaces it and says so; --no-clobber skips it (exit 0, says skipped)", async (t) => {
  const { ferry, base, server, tmp } = await cliSetup(t);
  await writeTree(join(server.root, "d"), { "a.txt": "new bytes" });
  const local = join(tmp.path, "a.txt");
  await writeFile(local, "old");

  const keep = await ferry(["get", "--no-clobber", `${base}/d/a.txt`, local]);
  assert.equal(keep.code, 0, keep.stderr);
  assert.match(keep.stdout, /^skipped .*\/d\/a\.txt → .*a\.txt: .*a\.txt exists \(--no-clobber\); nothing was downloaded$/m);
  assert.equal(await readFile(local, "utf8"), "old");
  const keepJson = await ferry(["get", "--no-clobber", "--json", `${base}/d/a.txt`, tmp.path]);
  assert.equal(keepJson.code, 0, keepJson.stderr);
  assert.deepEqual((JSON.parse(keepJson.stdout) as { skipped: boolean; ok: boolean }), {
    ok: true, command: "get", source: `${base.replace(":pass@", ":****@")}/d/a.txt`, destination: local, skipped: true, reason: "exists (--no-clobber)", exitCode: 0,
  });
  assert.equal(await readFile(local, "utf8"), "old");

  const replace = await ferry(["get", `${base}/d/a.txt`, local]);
  assert.equal(replace.code, 0, replace.stderr);
  assert.match(replace.stdout, /^downloaded .*: 9 B .*verified by SHA-256; replaced the existing file$/m);
  assert.equal(await readFile(local, "utf8"), "new bytes");

  const fresh = await ferry(["get", `${base}/d/a.txt`, join(tmp.path, "b.txt")]);
  assert.doesNotMatch(fresh.stdout, /replaced/);
  const freshNc = await ferry(["get", "--no-clobber", `${base}/d/a.txt`, join(tmp.path, "c.txt")]);
  assert.equal(freshNc.code, 0);
  assert.equal(await readFile(join(tmp.path, "c.txt"), "utf8"), "new bytes", "--no-clobber downloads what is not there yet");
});
