import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { connect } from "node:net";
import { join } from "node:path";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { RawClient } from "../server/rawClient.js";
import { startServerChild, type ServerChild } from "./faultHelpers.js";

// A16, I10. Policy of ferry's server: no recursion (LIST -R lists one level, the option is
// tolerated and ignored), no globbing (a "*" is a literal name character), and listings
// stream a batch at a time from an open directory, so a huge folder costs time, not memory.
// The server runs in a child process so its peak RSS (VmHWM) can be read.
describe("A16 / I10: listing, glob and recursion bombs", () => {
  let root: { path: string; remove: () => Promise<void> };
  let child: ServerChild;
  let client: RawClient;
  const ENTRIES = 100_000;
  const DEPTH = 1000;

  before(async () => {
    // /dev/shm (tmpfs) when there is one: creating 100 000 files there is several times faster.
    const path = await mkdtemp(join(existsSync("/dev/shm") ? "/dev/shm" : tmpdir(), "ferry-a16-"));
    root = { path, remove: () => rm(path, { recursive: true, force: true }) };
    // Built by python (one process, no per-file round trips): a 1000-deep chain and a 100 000-entry folder.
    execFileSync("python3", ["-c", `
import os, sys
root = sys.argv[1]
os.chdir(root)
for _ in range(${DEPTH}):
    os.mkdir("d")
    os.chdir("d")
big = os.path.join(root, "big")
os.mkdir(big)
for i in range(${ENTRIES}):
    os.close(os.open(os.path.join(big, "f%06d" % i), os.O_CREAT | os.O_WRONLY, 0o644))
`, root.path]);
    // A 1 MiB young generation: garbage is collected early, so the peak RSS shows what is held.
    child = await startServerChild(root.path, { dataTimeoutMs: 20_000 }, ["--max-semi-space-size=1"]);
    client = await RawClient.login(child.port);
  });
  after(async () => {
    client?.close();
    await child?.stop();
    await root?.remove();
  });

  /** Run a listing command over PASV; returns the final reply code and the bytes received. */
  async function listing(line: string): Promise<{ code: number | undefined; text: string; ms: number }> {
    const t0 = Date.now();
    const port = await client.pasv();
    const data = connect({ host: "127.0.0.1", port });
    data.on("error", () => undefined);
    const chunks: Buffer[] = [];
    data.on("data", (d: Buffer) => chunks.push(d));
    const closed = new Promise((r) => data.once("close", r));
    const pre = await client.send(line, 30_000);
    if (pre?.code !== 125 && pre?.code !== 150) {
      data.destroy();
      return { code: pre?.code, text: "", ms: Date.now() - t0 };
    }
    await closed;
    const final = await client.next(30_000);
    return { code: final?.code, text: Buffer.concat(chunks).toString(), ms: Date.now() - t0 };
  }

  it("LIST -R on a 1000-deep tree lists one level only, quickly", async () => {
    const before = await child.stats();
    const r = await listing("LIST -R d");
    assert.equal(r.code, 226);
    assert.equal(r.text.trim().split("\r\n").length, 1, "one entry: no recursion");
    assert.match(r.text, / d\r\n$/);
    assert.ok(r.ms < 5000, `${r.ms} ms`);
    const s = await child.stats();
    assert.ok(s.hwmKb - before.hwmKb < 4096, `peak RSS grew ${s.hwmKb - before.hwmKb} KiB`);
  });

  it("CWD down 1000 levels is only path resolution (bounded by the path length), and MLSD there works", async () => {
    const deep = Array.from({ length: DEPTH }, () => "d").join("/");
    assert.equal((await client.send(`CWD ${deep}`))?.code, 250);
    const r = await listing("MLSD");
    assert.equal(r.code, 226);
    assert.equal(r.text, "", "the deepest folder is empty");
    assert.equal((await client.send("CWD /"))?.code, 250);
  });

  it("NLST */*/*/*/* is not expanded: a literal name, 550, at once", async () => {
    const t0 = Date.now();
    const r = await listing("NLST */*/*/*/*");
    assert.equal(r.code, 550);
    assert.ok(Date.now() - t0 < 2000);
  });

  it("STAT with a pathological glob is a literal path: 550 at once, server still serving", async () => {
    for (const glob of ["*/../*/../*/../*/../*/../*", "{a,b}{c,d}{e,f}{g,h}{i,j}{k,l}{m,n}", "*".repeat(1000), "[[[[[[[[[[", "**/**/**/**/**"]) {
      const t0 = Date.now();
      const r = await client.send(`STAT ${glob}`);
      assert.ok(r?.code === 550 || r?.code === 553, `${glob}: ${r?.code} ${r?.lines.join(" ")}`);
      assert.ok(Date.now() - t0 < 2000, glob);
    }
    assert.equal((await client.send("NOOP"))?.code, 200);
  });

  it(`LIST of a ${ENTRIES}-entry folder streams every entry with bounded server memory`, async (t) => {
    const before = await child.stats();
    const r = await listing("LIST big");
    assert.equal(r.code, 226);
    const lines = r.text.split("\r\n").filter((l) => l !== "");
    assert.equal(lines.length, ENTRIES);
    const s = await child.stats();
    const growth = s.hwmKb - before.hwmKb;
    t.diagnostic(`LIST ${ENTRIES}: ${r.ms} ms, ${(r.text.length / 1e6).toFixed(1)} MB sent, server peak RSS +${growth} KiB (VmHWM ${s.hwmKb} KiB)`);
    // The listing text alone is ~6 MB; the server holds a 64-entry batch and a 64 KiB buffer.
    assert.ok(growth < 8 * 1024, `peak RSS grew ${growth} KiB for ${(r.text.length / 1e6).toFixed(1)} MB of listing`);
  });

  it(`STAT of the ${ENTRIES}-entry folder on the control connection is streamed too`, async (t) => {
    const before = await child.stats();
    client.write("STAT big\r\n");
    const r = await client.next(60_000);
    assert.equal(r?.code, 213);
    assert.equal(r.lines.filter((l) => / f\d{6}$/.test(l)).length, ENTRIES);
    const s = await child.stats();
    t.diagnostic(`STAT ${ENTRIES}: server peak RSS +${s.hwmKb - before.hwmKb} KiB`);
    assert.ok(s.hwmKb - before.hwmKb < 8 * 1024, `peak RSS grew ${s.hwmKb - before.hwmKb} KiB`);
    assert.equal((await client.send("NOOP"))?.code, 200);
  });
});
