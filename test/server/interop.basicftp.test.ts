import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Client } from "basic-ftp";
import { startFerryServer, type RunningFerryServer } from "../helpers/ferryServer.js";
import { pseudoRandomBytes, tempDir } from "../helpers/tmp.js";
import { treeOf, writeSampleTree } from "./trees.js";

describe("interop: basic-ftp against ferry serve", () => {
  let srv: RunningFerryServer;
  let local: { path: string; remove: () => Promise<void> };
  let client: Client;

  before(async () => {
    srv = await startFerryServer();
    local = await tempDir();
    client = new Client(20_000);
    await client.access({ host: "127.0.0.1", port: srv.port, user: "user", password: "pass" });
  });
  after(async () => {
    client.close();
    await srv.close();
    await local.remove();
  });

  it("uploads, lists and downloads a file", async () => {
    const data = pseudoRandomBytes(1_500_000, 9);
    await writeFile(join(local.path, "in.bin"), data);
    await client.uploadFrom(join(local.path, "in.bin"), "in.bin");
    const list = await client.list();
    const entry = list.find((e) => e.name === "in.bin");
    assert.equal(entry?.size, data.length);
    assert.equal(entry?.isFile, true);
    assert.ok(entry?.modifiedAt instanceof Date, "MLSD gives a parsed modify time");
    await client.downloadTo(join(local.path, "out.bin"), "in.bin");
    assert.deepEqual(await readFile(join(local.path, "out.bin")), data);
    assert.deepEqual(await readFile(join(srv.root, "in.bin")), data);
  });

  it("ensureDir, rename, remove, removeDir", async () => {
    await client.ensureDir("/x/y/z");
    assert.equal(await client.pwd(), "/x/y/z");
    assert.ok((await stat(join(srv.root, "x", "y", "z"))).isDirectory());
    await writeFile(join(local.path, "f.txt"), "abc");
    await client.uploadFrom(join(local.path, "f.txt"), "f.txt");
    await client.rename("f.txt", "/x/g.txt");
    assert.equal(await readFile(join(srv.root, "x", "g.txt"), "utf8"), "abc");
    await client.remove("/x/g.txt");
    await assert.rejects(stat(join(srv.root, "x", "g.txt")));
    await client.removeDir("/x");
    await assert.rejects(stat(join(srv.root, "x")));
    await client.cd("/");
  });

  it("uploadFromDir and downloadToDir keep the tree", async () => {
    const src = join(local.path, "tree");
    await writeSampleTree(src, 21);
    await client.uploadFromDir(src, "/tree");
    assert.deepEqual(await treeOf(join(srv.root, "tree")), await treeOf(src));
    await client.cd("/");
    await client.downloadToDir(join(local.path, "back"), "/tree");
    assert.deepEqual(await treeOf(join(local.path, "back")), await treeOf(src));
    await client.cd("/");
  });

  it("size, lastMod and features", async () => {
    await writeFile(join(srv.root, "s.txt"), "12345");
    assert.equal(await client.size("s.txt"), 5);
    const mod = await client.lastMod("s.txt");
    assert.equal(Math.floor(mod.getTime() / 1000), Math.floor((await stat(join(srv.root, "s.txt"))).mtimeMs / 1000));
    const feats = await client.features();
    for (const f of ["MLST", "SIZE", "MDTM", "EPSV", "UTF8", "HASH", "REST"]) assert.ok(feats.has(f), `FEAT lists ${f}`);
  });
});
