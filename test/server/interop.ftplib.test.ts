import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { requirePeer } from "../helpers/peers.js";
import { startFerryServer, type RunningFerryServer } from "../helpers/ferryServer.js";
import { pseudoRandomBytes, tempDir } from "../helpers/tmp.js";

const run = promisify(execFile);
const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), "ftplib_client.py");

describe("interop: Python ftplib against ferry serve", () => {
  let srv: RunningFerryServer;
  let local: { path: string; remove: () => Promise<void> };
  const file = pseudoRandomBytes(50_000, 5);
  const upload = pseudoRandomBytes(20_000, 6);

  before(async () => {
    srv = await startFerryServer();
    local = await tempDir();
    await mkdir(join(srv.root, "tree", "sub"), { recursive: true });
    await writeFile(join(srv.root, "tree", "file.bin"), file);
    await writeFile(join(local.path, "upload.bin"), upload);
  });
  after(async () => {
    await srv.close();
    await local.remove();
  });

  it("MLSD, SIZE, MDTM, MFMT, REST (RETR and STOR), ASCII mode, NLST, MLST", async (t) => {
    const python = requirePeer(t, "python3", "apt-get install -y python3");
    if (!python) return;
    const { stdout } = await run(python, [SCRIPT, String(srv.port), local.path], { timeout: 60_000 });
    const out = JSON.parse(stdout) as Record<string, unknown>;
    assert.equal(out.pwd, "/");
    const mlsd = out.mlsd as Array<[string, Record<string, string>]>;
    assert.deepEqual(mlsd.map(([n, f]) => [n, f.type, f.size]), [["file.bin", "file", "50000"], ["sub", "dir", undefined]]);
    for (const [, facts] of mlsd) {
      assert.match(facts.modify ?? "", /^\d{14}$/);
      assert.ok(facts.perm && facts.unique);
    }
    assert.equal(out.size, 50000);
    assert.match(String(out.mdtm), /^213 \d{14}$/);
    assert.equal(out.mfmt, "213 Modify=20200102030405; /tree/file.bin");
    assert.equal(out.mdtm_after, "213 20200102030405");
    assert.equal((await stat(join(srv.root, "tree", "file.bin"))).mtime.toISOString(), "2020-01-02T03:04:05.000Z");
    assert.deepEqual(await readFile(join(local.path, "tail.bin")), file.subarray(1000));
    assert.match(String(out.rest_stor), /^226/);
    assert.deepEqual(await readFile(join(srv.root, "up.bin")), upload);
    assert.deepEqual(out.lines, ["one", "two"]);
    assert.equal(await readFile(join(srv.root, "lines.txt"), "utf8"), "one\ntwo\n", "CRLF stored as LF");
    assert.deepEqual(out.nlst, ["file.bin", "sub"]);
    assert.match(String(out.mlst), /^250-Listing \/tree\/file\.bin\n type=file;size=50000;modify=20200102030405;perm=adfrw;unique=[0-9a-f]+U[0-9a-f]+; \/tree\/file\.bin\n250 End$/);
    assert.match(String(out.quit), /^221/);
  });
});
