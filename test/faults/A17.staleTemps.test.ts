import assert from "node:assert/strict";
import { mkdir, readdir, readFile, symlink, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { STALE_UPLOAD_MS } from "../../src/server/Upload.js";
import { startFerryServer } from "../helpers/ferryServer.js";
import { tempDir } from "../helpers/tmp.js";
import { RawClient } from "../server/rawClient.js";
import { transfer } from "./serverOps.js";

// A17: a server killed mid-STOR leaves its hidden temporary file behind (it cannot remove it).
// The first upload into that folder after a restart removes such leftovers once they are older
// than any running upload's could be; fresh ones, links and other names stay.
test("A17: stale upload temporaries of a killed server are swept at the next upload into their folder", async (t) => {
  const server = await startFerryServer();
  const outside = await tempDir("ferry-a17-outside-");
  t.after(async () => { await server.close(); await outside.remove(); });
  const dir = join(server.root, "in");
  await mkdir(dir);
  const old = new Date(Date.now() - STALE_UPLOAD_MS - 60_000);
  await writeFile(join(dir, ".ferry-upload.00000000000000aa"), "left by a killed server");
  await utimes(join(dir, ".ferry-upload.00000000000000aa"), old, old);
  await writeFile(join(dir, ".ferry-upload.00000000000000bb"), "another session's upload in progress");
  await writeFile(join(outside.path, "canary"), "keep me");
  await symlink(join(outside.path, "canary"), join(dir, ".ferry-upload.00000000000000cc"));
  await writeFile(join(dir, "old.txt"), "an ordinary file");
  await utimes(join(dir, "old.txt"), old, old);

  const c = await RawClient.login(server.port);
  t.after(() => c.close());
  const r = await transfer(c, "STOR in/new.txt", Buffer.from("new"));
  assert.equal(r.final?.code, 226);
  assert.deepEqual((await readdir(dir)).sort(), [".ferry-upload.00000000000000bb", ".ferry-upload.00000000000000cc", "new.txt", "old.txt"]);
  assert.equal(await readFile(join(outside.path, "canary"), "utf8"), "keep me");
  assert.equal(await readFile(join(dir, "new.txt"), "utf8"), "new");
});
