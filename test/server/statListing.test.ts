// ferry's server lists folders over the control connection: `STAT path` in LIST form (RFC 959)
// and `STAT -M path` in MLSD form (FEAT "STAT MLSD"), with LIST's and MLSD's safety: confined
// to the root, upload temporaries and names with CR/LF left out, and for -M a size cap (552)
// so a client that holds the reply whole is never sent more than it accepts.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { mkdir, symlink, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { join } from "node:path";
import { LISTING_DEFAULTS, parseMlsxLine } from "../../src/protocol/index.js";
import { UPLOAD_TEMP_PREFIX } from "../../src/server/pathNames.js";
import { startFerryServer, type RunningFerryServer } from "../helpers/ferryServer.js";
import { pseudoRandomBytes, tempDir } from "../helpers/tmp.js";
import { RawClient } from "./rawClient.js";

describe("STAT listings over the control connection", () => {
  let base: { path: string; remove: () => Promise<void> };
  let srv: RunningFerryServer;
  let client: RawClient;

  before(async () => {
    base = await tempDir();
    const root = join(base.path, "root");
    await mkdir(join(root, "d", "-a"), { recursive: true });
    await mkdir(join(root, "d", "empty"));
    await mkdir(join(root, "big"));
    await mkdir(join(base.path, "outside"));
    await writeFile(join(base.path, "outside", "secret.txt"), "secret");
    await writeFile(join(root, "d", "a b.txt"), "abc");
    await writeFile(join(root, "d", ".dot"), "x");
    await writeFile(join(root, "d", `${UPLOAD_TEMP_PREFIX}0123456789abcdef`), "partial upload");
    await writeFile(join(root, "d", "evil\nname"), "x");
    await symlink(join(base.path, "outside"), join(root, "d", "out"));
    await writeFile(join(root, "big.bin"), pseudoRandomBytes(4 << 20, 3));
    // Lines of about 80 bytes: enough of them to pass the control-listing cap.
    const count = Math.ceil(LISTING_DEFAULTS.maxControlListingBytes / 60);
    for (let i = 0; i < count; i++) await writeFile(join(root, "big", `f${String(i).padStart(5, "0")}`), "");
    srv = await startFerryServer({ root });
    client = await RawClient.login(srv.port);
  });
  after(async () => {
    client.close();
    await srv.close();
    await base.remove();
  });

  const body = (lines: readonly string[]): string[] => lines.slice(1, -1);

  it("FEAT offers STAT MLSD", async () => {
    const r = await client.send("FEAT");
    assert.ok(r?.lines.includes(" STAT MLSD"), JSON.stringify(r?.lines));
  });

  it("STAT -M: a cdir line, then MLSD lines indented by one space; dotfiles shown, temp and CR/LF names and links out not", async () => {
    const r = await client.send("STAT -M d");
    assert.equal(r?.code, 213);
    const lines = body(r!.lines);
    assert.ok(lines.every((l) => l.startsWith(" ")), JSON.stringify(lines));
    assert.match(lines[0]!, /^ type=cdir;.* \/d$/);
    const names = lines.slice(1).map((l) => parseMlsxLine(l.slice(1))?.name).sort();
    assert.deepEqual(names, ["-a", ".dot", "a b.txt", "empty"]);
    const file = lines.map((l) => parseMlsxLine(l.slice(1))).find((e) => e?.name === "a b.txt");
    assert.equal(file?.size, 3);
    assert.ok(file?.modifiedAt instanceof Date);
  });

  it("STAT -M of an empty folder, of a folder named -a: the cdir line alone, and the folder's entries", async () => {
    assert.deepEqual(body((await client.send("STAT -M d/empty"))!.lines).length, 1);
    const r = await client.send("STAT -M d/-a");
    assert.equal(r?.code, 213);
    assert.match(body(r!.lines)[0]!, /type=cdir;.* \/d\/-a$/);
  });

  it("STAT -M of a file, a missing path, a link out of the root, a path climbing out: 550", async () => {
    for (const path of ["d/a b.txt", "d/nosuch", "d/out", "../outside"]) {
      const r = await client.send(`STAT -M ${path}`);
      // "../outside" is confined to "/outside", which does not exist.
      assert.equal(r?.code, 550, `${path}: ${JSON.stringify(r?.lines)}`);
    }
  });

  it("STAT -M of a folder larger than a control connection carries: 552, nothing of the listing sent, the session goes on", async () => {
    const r = await client.send("STAT -M big");
    assert.equal(r?.code, 552);
    assert.equal(r?.lines.length, 1);
    assert.match(r!.lines[0]!, /larger than \d+ bytes; list it over a data connection/);
    assert.equal((await client.send("NOOP"))?.code, 200);
  });

  it("STAT path (RFC 959): LIST lines, indented, streamed without the -M cap", async () => {
    const r = await client.send("STAT -a d");
    assert.equal(r?.code, 213);
    const lines = body(r!.lines);
    assert.ok(lines.some((l) => / a b\.txt$/.test(l) && l.startsWith(" -rw")), JSON.stringify(lines));
    assert.ok(!lines.some((l) => l.includes(UPLOAD_TEMP_PREFIX)));
    const big = await client.send("STAT big");
    assert.equal(big?.code, 213);
    assert.ok(body(big!.lines).length > 1000);
  });

  it("STAT with a path during a transfer reports the transfer instead of listing into its replies", async () => {
    const other = await RawClient.login(srv.port);
    try {
      const data = connect({ host: "127.0.0.1", port: await other.pasv() });
      await once(data, "connect");
      data.pause();
      assert.ok([125, 150].includes((await other.send("RETR big.bin"))?.code ?? 0));
      for (const line of ["STAT -M d", "STAT d"]) {
        const r = await other.send(line);
        assert.equal(r?.code, 211, line);
        assert.match(r!.lines.join("\n"), /RETR \/big\.bin in progress/);
      }
      data.resume();
      data.on("data", () => undefined);
      assert.equal((await other.next())?.code, 226);
    } finally {
      other.close();
    }
  });
});
