import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { once } from "node:events";
import { mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { startFerryServer, type RunningFerryServer } from "../helpers/ferryServer.js";
import { pseudoRandomBytes, tempDir } from "../helpers/tmp.js";
import { RawClient } from "../server/rawClient.js";
import { dataSocket, sha, tempFilesIn, transfer } from "./serverOps.js";

// A17: a plain STOR writes to a hidden temporary file beside the target and renames it over
// the target only once the upload completed (Pure-FTPd --notruncate, ProFTPD HiddenStores).
const MiB = 1024 * 1024;
const OLD = pseudoRandomBytes(8 * MiB, 11);
const NEW = pseudoRandomBytes(8 * MiB, 12);

/** Poll `cond` every 10 ms, at most `ms`. */
async function until(cond: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The largest size among the target and the upload temporaries in `dir`. */
async function biggestUpload(dir: string, name: string): Promise<number> {
  let max = 0;
  for (const n of [name, ...(await tempFilesIn(dir))]) max = Math.max(max, await stat(join(dir, n)).then((s) => s.size, () => 0));
  return max;
}

/** Unmount `mnt` if mounted; a server that just closed may still hold a descriptor for a moment (bounded retry, then lazy). */
async function unmount(mnt: string): Promise<void> {
  for (let i = 0; i < 50; i++) {
    try {
      execFileSync("umount", [mnt], { stdio: "pipe" });
      return;
    } catch (err) {
      if (/not mounted/.test(String((err as { stderr?: Buffer }).stderr ?? ""))) return;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  execFileSync("umount", ["-l", mnt], { stdio: "pipe" });
}

describe("A17: uploads never destroy or half-publish a file", () => {
  let tmp: { path: string; remove: () => Promise<void> };
  let srv: RunningFerryServer;

  before(async () => {
    tmp = await tempDir("ferry-a17-");
    srv = await startFerryServer({ root: tmp.path, limits: { dataTimeoutMs: 1500 } });
  });
  after(async () => {
    await srv.close();
    await tmp.remove();
  });

  it("an 8 MiB overwrite cut halfway leaves the old file intact and no temp file", async () => {
    const file = join(tmp.path, "cut.bin");
    await writeFile(file, OLD);
    const c = await RawClient.login(srv.port);
    try {
      const port = await c.pasv();
      c.write("STOR cut.bin\r\n");
      assert.equal((await c.next())?.code, 150);
      const s = await dataSocket(port);
      s.write(NEW.subarray(0, 4 * MiB));
      await until(async () => (await biggestUpload(tmp.path, "cut.bin")) >= 4 * MiB || (await stat(file)).size < OLD.length, 10_000, "the first half on disk");
      s.resetAndDestroy();
      const final = await c.next();
      assert.equal(final?.code, 426, final?.lines.join(" "));
      assert.equal(sha(await readFile(file)), sha(OLD), "the old 8 MiB are still there");
      assert.deepEqual(await tempFilesIn(tmp.path), []);
    } finally {
      c.close();
    }
  });

  it("a STOR whose data connection never comes (425) leaves the old file intact", async () => {
    const file = join(tmp.path, "never.bin");
    await writeFile(file, OLD.subarray(0, MiB));
    const c = await RawClient.login(srv.port);
    try {
      await c.pasv();
      c.write("STOR never.bin\r\n");
      assert.equal((await c.next())?.code, 150);
      const final = await c.next();
      assert.equal(final?.code, 425, final?.lines.join(" "));
      assert.equal(sha(await readFile(file)), sha(OLD.subarray(0, MiB)));
      assert.deepEqual(await tempFilesIn(tmp.path), []);
    } finally {
      c.close();
    }
  });

  it("a RETR during an overwrite gets the old or the new file whole, never a mix; then the new one", async () => {
    const file = join(tmp.path, "shared.bin");
    await writeFile(file, OLD);
    const writer = await RawClient.login(srv.port);
    const reader = await RawClient.login(srv.port);
    try {
      const port = await writer.pasv();
      writer.write("STOR shared.bin\r\n");
      assert.equal((await writer.next())?.code, 150);
      const s = await dataSocket(port);
      s.write(NEW.subarray(0, 4 * MiB));
      await until(async () => (await biggestUpload(tmp.path, "shared.bin")) >= 4 * MiB || (await stat(file)).size < OLD.length, 10_000, "half of the new file on disk");
      const during = await transfer(reader, "RETR shared.bin");
      assert.equal(during.final?.code, 226);
      assert.equal(sha(during.data), sha(OLD), `during the upload the reader got ${during.data.length} bytes that are not the old file`);
      const closed = once(s, "close");
      s.end(NEW.subarray(4 * MiB));
      await closed;
      assert.equal((await writer.next())?.code, 226);
      const afterwards = await transfer(reader, "RETR shared.bin");
      assert.equal(sha(afterwards.data), sha(NEW));
      assert.deepEqual(await tempFilesIn(tmp.path), []);
    } finally {
      writer.close();
      reader.close();
    }
  });

  it("the upload temp file is hidden from LIST, NLST, MLSD and STAT and refused as a direct target", async () => {
    const c = await RawClient.login(srv.port);
    const other = await RawClient.login(srv.port);
    try {
      const port = await c.pasv();
      c.write("STOR hidden.bin\r\n");
      assert.equal((await c.next())?.code, 150);
      const s = await dataSocket(port);
      s.write(NEW.subarray(0, MiB));
      await until(async () => (await tempFilesIn(tmp.path)).length > 0, 10_000, "the temp file");
      const [temp] = await tempFilesIn(tmp.path);
      for (const line of ["LIST -a", "NLST -a", "MLSD"]) {
        const r = await transfer(other, line);
        assert.equal(r.final?.code, 226, line);
        assert.ok(!r.data.toString().includes(".ferry-upload"), `${line} shows the temp file`);
        assert.ok(r.data.toString().includes("cut.bin"), `${line} lists the other files`);
      }
      const st = await other.send("STAT -a .");
      assert.ok(st?.lines.join("\n").includes("cut.bin"));
      assert.ok(!st?.lines.join("\n").includes(".ferry-upload"));
      for (const line of [`RETR ${temp}`, `DELE ${temp}`, `RNFR ${temp}`, `SIZE ${temp}`]) {
        const r = line.startsWith("RETR") ? (await transfer(other, line)).final : await other.send(line);
        assert.equal(r?.code, 550, `${line}: ${r?.code}`);
      }
      const closed = once(s, "close");
      s.end();
      await closed;
      assert.equal((await c.next())?.code, 226);
      assert.equal((await stat(join(tmp.path, "hidden.bin"))).size, MiB);
    } finally {
      c.close();
      other.close();
    }
  });

  it("REST beyond the end then RETR: refused, no data, the session goes on", async () => {
    await writeFile(join(tmp.path, "small.txt"), "0123456789");
    const c = await RawClient.login(srv.port);
    try {
      assert.equal((await c.send("REST 1000"))?.code, 350);
      const r = await transfer(c, "RETR small.txt");
      assert.ok(r.final && r.final.code >= 550 && r.final.code <= 554, `${r.final?.code}`);
      assert.equal(r.data.length, 0);
      assert.equal((await transfer(c, "RETR small.txt")).data.toString(), "0123456789", "the REST offset applied once");
      assert.equal((await c.send("REST 1000"))?.code, 350);
      const w = await transfer(c, "STOR small.txt", Buffer.from("x"));
      assert.ok(w.final && w.final.code >= 550 && w.final.code <= 554, `${w.final?.code}`);
      assert.equal(await readFile(join(tmp.path, "small.txt"), "utf8"), "0123456789");
    } finally {
      c.close();
    }
  });

  it("REST n + STOR resumes in place (documented): the first n bytes stay, the rest is replaced", async () => {
    await writeFile(join(tmp.path, "resume.bin"), NEW.subarray(0, 3000));
    const c = await RawClient.login(srv.port);
    try {
      assert.equal((await c.send("REST 1000"))?.code, 350);
      const r = await transfer(c, "STOR resume.bin", NEW.subarray(1000, 5000));
      assert.equal(r.final?.code, 226);
      assert.equal(sha(await readFile(join(tmp.path, "resume.bin"))), sha(NEW.subarray(0, 5000)));
    } finally {
      c.close();
    }
  });

  it("APPE to a missing file creates it whole; appending again adds to it", async () => {
    const c = await RawClient.login(srv.port);
    try {
      const r = await transfer(c, "APPE fresh.txt", Buffer.from("first part;"));
      assert.equal(r.final?.code, 226);
      assert.equal((await transfer(c, "APPE fresh.txt", Buffer.from("second part"))).final?.code, 226);
      assert.equal(await readFile(join(tmp.path, "fresh.txt"), "utf8"), "first part;second part");
      assert.deepEqual(await tempFilesIn(tmp.path), []);
    } finally {
      c.close();
    }
  });

  it("a cut upload of a NEW name keeps the bytes that arrived, and REST n + STOR resumes it whole (documented in Upload.ts)", async () => {
    const c = await RawClient.login(srv.port);
    try {
      const port = await c.pasv();
      c.write("STOR new-cut.bin\r\n");
      assert.equal((await c.next())?.code, 150);
      const s = await dataSocket(port);
      s.write(NEW.subarray(0, MiB));
      await until(async () => (await biggestUpload(tmp.path, "new-cut.bin")) >= MiB, 10_000, "the first MiB");
      await assert.rejects(stat(join(tmp.path, "new-cut.bin")), { code: "ENOENT" }, "nothing under the name while it runs");
      s.resetAndDestroy();
      assert.equal((await c.next())?.code, 426);
      const size = Number((await c.send("SIZE new-cut.bin"))?.lines[0]);
      assert.ok(size >= MiB && size <= 2 * MiB, `kept ${size} bytes for the resume`);
      assert.deepEqual(await tempFilesIn(tmp.path), []);
      assert.equal((await c.send(`REST ${size}`))?.code, 350);
      assert.equal((await transfer(c, "STOR new-cut.bin", NEW.subarray(size))).final?.code, 226);
      assert.equal(sha(await readFile(join(tmp.path, "new-cut.bin"))), sha(NEW));
    } finally {
      c.close();
    }
  });

  it("an ASCII-mode STOR (the stream path) is published through the temp file too", async () => {
    await writeFile(join(tmp.path, "lines.txt"), "old contents\n");
    const c = await RawClient.login(srv.port);
    try {
      assert.equal((await c.send("TYPE A"))?.code, 200);
      const r = await transfer(c, "STOR lines.txt", Buffer.from("one\r\ntwo\r\n"));
      assert.equal(r.final?.code, 226, r.final?.lines.join(" "));
      assert.equal(await readFile(join(tmp.path, "lines.txt"), "utf8"), "one\ntwo\n");
      assert.deepEqual(await tempFilesIn(tmp.path), []);
    } finally {
      c.close();
    }
  });

  it("STOU publishes the unique name only when complete", async () => {
    const c = await RawClient.login(srv.port);
    try {
      const r = await transfer(c, "STOU up", Buffer.from("unique"));
      assert.equal(r.final?.code, 226);
      const name = /FILE: (\S+)/.exec(r.preliminary?.lines[0] ?? "")?.[1];
      assert.ok(name);
      assert.equal(await readFile(join(tmp.path, name), "utf8"), "unique");
      assert.deepEqual(await tempFilesIn(tmp.path), []);
    } finally {
      c.close();
    }
  });

  it("a full disk (tmpfs as root): 452/552, the old content intact, the temp file removed", async (t) => {
    const mnt = join(tmp.path, "..", `${tmp.path.split("/").pop()}-full`);
    await mkdir(mnt);
    try {
      try {
        execFileSync("mount", ["-t", "tmpfs", "-o", "size=4m", "tmpfs", mnt], { stdio: "pipe" });
      } catch (err) {
        if (process.env.CI === "true") throw new Error(`A17 full disk needs root to mount a tmpfs: ${(err as Error).message}`);
        t.skip("needs root (mount tmpfs)");
        return;
      }
      const full = await startFerryServer({ root: mnt, limits: { dataTimeoutMs: 3000 } });
      try {
        await writeFile(join(mnt, "old.bin"), OLD.subarray(0, MiB));
        const c = await RawClient.login(full.port);
        try {
          const r = await transfer(c, "STOR old.bin", NEW);
          assert.ok(r.final?.code === 452 || r.final?.code === 552, `${r.final?.code} ${r.final?.lines.join(" ")}`);
          assert.match(r.final?.lines.join(" ") ?? "", /space|full/i);
          assert.equal(sha(await readFile(join(mnt, "old.bin"))), sha(OLD.subarray(0, MiB)));
          assert.deepEqual(await tempFilesIn(mnt), []);
          const fresh = await transfer(c, "STOR fresh.bin", NEW);
          assert.ok(fresh.final?.code === 452 || fresh.final?.code === 552, `new name: ${fresh.final?.code}`);
          await assert.rejects(stat(join(mnt, "fresh.bin")), { code: "ENOENT" }, "a new name that did not fit is not published");
          assert.deepEqual(await tempFilesIn(mnt), []);
          assert.equal((await c.send("NOOP"))?.code, 200, "the session goes on");
        } finally {
          c.close();
        }
      } finally {
        await full.close();
      }
    } finally {
      await unmount(mnt);
      await rm(mnt, { recursive: true, force: true });
    }
  });
});
