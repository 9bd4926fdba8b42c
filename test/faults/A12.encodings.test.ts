import { after, before, beforeEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readdir, writeFile } from "node:fs/promises";
import { startFerryServer, type RunningFerryServer } from "../helpers/ferryServer.js";
import { tempDir } from "../helpers/tmp.js";
import { RawClient } from "../server/rawClient.js";
import { tempFilesIn, transfer } from "./serverOps.js";

// A12: one documented mapping of names (src/server/pathNames.ts): UTF-8 used byte-exactly;
// bytes that are not UTF-8 (and U+FFFD itself) refused with 501, so two raw names never land
// on one file and an overlong C0 AE is never "."; a name too long for the filesystem: 553.

/** A command line with raw bytes in its argument. */
function line(verb: string, ...arg: Array<string | number[]>): Buffer {
  return Buffer.concat([Buffer.from(verb + " "), ...arg.map((a) => (typeof a === "string" ? Buffer.from(a) : Buffer.from(a)))]);
}

describe("A12: encodings of path arguments", () => {
  let tmp: { path: string; remove: () => Promise<void> };
  let srv: RunningFerryServer;
  let c: RawClient;

  /** Send a raw line, return the reply code. */
  const raw = async (data: Buffer): Promise<number | undefined> => {
    c.write(Buffer.concat([data, Buffer.from("\r\n")]));
    return (await c.next())?.code;
  };
  /** Names in the root as raw bytes (hex), so lossy decoding cannot hide a collision. */
  const rootNames = async (): Promise<string[]> => (await readdir(tmp.path, { encoding: "buffer" })).map((b) => b.toString("hex")).sort();

  before(async () => {
    tmp = await tempDir("ferry-a12-");
    srv = await startFerryServer({ root: tmp.path });
    c = await RawClient.login(srv.port);
  });
  beforeEach(async () => {
    assert.equal((await c.send("CWD /"))?.code, 250); // each case starts at the root whatever the last one did
  });
  after(async () => {
    c.close();
    await srv.close();
    await tmp.remove();
  });

  it("bytes that are not UTF-8 get 501 for every command, and nothing is created", async () => {
    const before = await rootNames();
    // A literal 0xFF byte travels doubled (IAC IAC, RFC 854); a lone one is a Telnet command cut short and is dropped (decodeLine.ts).
    for (const bad of [[0x61, 0xff, 0xff], [0x61, 0xfe], [0xc3], [0xed, 0xa0, 0x80] /* a UTF-16 surrogate */]) {
      for (const verb of ["MKD", "CWD", "DELE", "RMD", "SIZE", "MDTM", "RNFR", "MLST"]) {
        assert.equal(await raw(line(verb, bad)), 501, `${verb} ${Buffer.from(bad).toString("hex")}`);
      }
      const r = await transfer(c, line("STOR", bad), Buffer.from("data"));
      assert.equal(r.final?.code, 501, `STOR ${Buffer.from(bad).toString("hex")}: ${r.final?.code}`);
    }
    assert.deepEqual(await rootNames(), before, "no file or folder was created under a lossy name");
  });

  it("an overlong C0 AE is never taken for \".\" or \"..\"", async () => {
    assert.equal(await raw(line("MKD", "sub")), 257);
    assert.equal(await raw(line("CWD", "sub")), 250);
    assert.equal(await raw(line("CWD", [0xc0, 0xae, 0xc0, 0xae])), 501);
    assert.equal(await raw(line("CWD", [0xc0, 0xae])), 501);
    assert.equal(await raw(line("RMD", [0xc0, 0xae])), 501);
    assert.equal(await raw(line("MKD", [0xc0, 0xae, 0xc0, 0xae], "/x")), 501);
    const pwd = await c.send("PWD");
    assert.equal(pwd?.lines[0], '"/sub" is the current directory');
    assert.equal(await raw(line("CWD", "/")), 250);
  });

  it("U+FFFD sent as valid UTF-8 is refused too (it is what invalid bytes decode to)", async () => {
    assert.equal(await raw(line("MKD", "a\uFFFD")), 501);
  });

  it("NFC and NFD spellings are two different files, stored byte-exactly", async () => {
    const nfc = "caf\u00e9.txt";
    const nfd = "cafe\u0301.txt";
    assert.equal((await transfer(c, `STOR ${nfc}`, Buffer.from("composed"))).final?.code, 226);
    assert.equal((await transfer(c, `STOR ${nfd}`, Buffer.from("decomposed"))).final?.code, 226);
    const names = await rootNames();
    assert.ok(names.includes(Buffer.from(nfc).toString("hex")) && names.includes(Buffer.from(nfd).toString("hex")));
    assert.equal((await transfer(c, `RETR ${nfc}`)).data.toString(), "composed");
    assert.equal((await transfer(c, `RETR ${nfd}`)).data.toString(), "decomposed");
  });

  it("a 300-byte name gets 553 (STOR, MKD, RNTO), nothing is created; a 255-byte name works", async () => {
    const long = "n".repeat(300);
    const before = await rootNames();
    const r = await transfer(c, `STOR ${long}`, Buffer.from("x"));
    assert.equal(r.final?.code, 553, `${r.final?.code} ${r.final?.lines.join(" ")}`);
    assert.equal(await raw(line("MKD", long)), 553);
    assert.equal(await raw(line("RNFR", "sub")), 350);
    assert.equal(await raw(line("RNTO", long)), 553);
    assert.deepEqual(await rootNames(), before);
    assert.deepEqual(await tempFilesIn(tmp.path), []);
    const max = "m".repeat(255);
    assert.equal((await transfer(c, `STOR ${max}`, Buffer.from("fits"))).final?.code, 226, "the temp name does not grow with the target's");
    assert.equal((await transfer(c, `RETR ${max}`)).data.toString(), "fits");
  });

  it("names on disk that are not UTF-8 are left out of listings (no lossy duplicates)", async () => {
    for (const b of [[0x62, 0xff], [0x62, 0xfe]]) await writeFile(Buffer.concat([Buffer.from(tmp.path + "/"), Buffer.from(b)]), "raw");
    for (const verb of ["LIST", "NLST", "MLSD"]) {
      const r = await transfer(c, verb);
      assert.equal(r.final?.code, 226);
      assert.ok(r.data.toString().includes("sub"), `${verb} lists the others`);
      assert.ok(!r.data.toString().includes("\uFFFD"), `${verb} shows a lossy name`);
    }
  });
});
