import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { startFerryServer } from "../helpers/ferryServer.js";
import { join } from "node:path";
import { cliSetup } from "./cliSetup.js";

test("put into missing remote folders creates them; a refused upload names the user's path, not the temporary name", async (t) => {
  const { ferry, base, server, tmp } = await cliSetup(t);
  const file = join(tmp.path, "f.txt");
  await writeFile(file, "deep");
  const deep = await ferry(["put", file, `${base}/new/deep/f.txt`]);
  assert.equal(deep.code, 0, deep.stderr);
  assert.equal(await readFile(join(server.root, "new", "deep", "f.txt"), "utf8"), "deep");
  const folderUrl = await ferry(["put", file, `${base}/other/dir/`]);
  assert.equal(folderUrl.code, 0, folderUrl.stderr);
  assert.equal(await readFile(join(server.root, "other", "dir", "f.txt"), "utf8"), "deep");
  const existing = await ferry(["put", file, `${base}/new/deep/g.txt`]);
  assert.equal(existing.code, 0, existing.stderr);

  await writeFile(join(server.root, "plain"), "x");
  const underFile = await ferry(["put", file, `${base}/plain/f.txt`]);
  assert.equal(underFile.code, 1);
  assert.match(underFile.stderr, /plain exists on the server and is not a folder/);

  // A read-only user: the server refuses the STOR of the temporary name with its own message.
  const ro = await startFerryServer({ users: [{ name: "ro", password: "pw", readOnly: true }] });
  t.after(() => ro.close());
  await mkdir(join(ro.root, "in"));
  const refused = await ferry(["put", file, `ftp://ro:pw@127.0.0.1:${ro.port}/in/f.txt`]);
  assert.equal(refused.code, 1, refused.stderr);
  assert.match(refused.stderr, /^ferry: put .* → ftp:\/\/ro:\*\*\*\*@.*\/in\/f\.txt: STOR in\/f\.txt: 550 Permission denied/m);
  assert.doesNotMatch(refused.stderr, /ferry-part/);
});
