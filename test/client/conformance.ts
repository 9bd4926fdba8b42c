import assert from "node:assert/strict";
import { createReadStream, createWriteStream } from "node:fs";
import { readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable, Writable } from "node:stream";
import { finished } from "node:stream/promises";
import { test, type TestContext } from "node:test";
import { pino } from "pino";
import { FtpClient, FtpReplyError, type ConnectOptions } from "../../src/client/index.js";
import { startCutProxy } from "../helpers/cutProxy.js";
import { killSessionProcesses, sessionProcesses } from "../helpers/sessionProcesses.js";
import { pseudoRandomBytes, tempDir } from "../helpers/tmp.js";

/** A server the conformance suite runs against, and what it is known to offer. */
export interface ConformanceTarget {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  /** The login directory on the local disk, to check bytes from the server's side; undefined when not local. */
  readonly home?: string;
  readonly quirks: {
    /** MLSD/MLST offered (vsftpd: no). */
    readonly mlst: boolean;
    /** How times are set: "MFMT", "MDTM" (two-argument form, vsftpd) or "none". */
    readonly setTime: "MFMT" | "MDTM" | "none";
    /** HASH or X* checksums offered. */
    readonly hash: boolean;
    /** LIST shows dotfiles (with -a). */
    readonly dotfiles: boolean;
  };
  /**
   * Extra connect options (TLS). A TLS control connection cannot be proxied (the cutting proxy
   * rewrites EPSV replies), so under TLS the cut is made by killing the server's session process.
   */
  readonly connect?: Partial<ConnectOptions>;
  /** PID of a server that forks a process per session (vsftpd, pure-ftpd): lets TLS runs cut a session. */
  readonly pid?: number;
  /** Known server bugs: the subtest still runs, reported as TODO with this reason instead of failing. */
  readonly knownIssues?: { readonly abort?: string };
  stop(): Promise<void>;
}

const sink = (): { stream: Writable; bytes: () => Buffer } => {
  const chunks: Buffer[] = [];
  return {
    stream: new Writable({ write: (c: Buffer, _e, done) => (chunks.push(c), done()) }),
    bytes: () => Buffer.concat(chunks),
  };
};

/**
 * One conformance suite for the FTP client, run against each real server (STYLE guideline
 * 15): every method, binary data compared byte for byte (and on the server's disk), resume
 * after a cut connection, abort, active mode, and the server's own quirks.
 */
export function runClientConformance(name: string, start: (t: TestContext) => Promise<ConformanceTarget | undefined>): void {
  test(`client conformance: ${name}`, { timeout: 60_000 }, async (t) => {
    const target = await start(t);
    if (!target) return;
    let client: FtpClient | undefined;
    const local = await tempDir("ferry-conf-");
    // One hook, in order: log out, stop the server, remove local files.
    t.after(async () => {
      await client?.quit();
      await target.stop();
      await local.remove();
    });
    const options = (extra: Partial<ConnectOptions> = {}): ConnectOptions => ({
      host: target.host, port: target.port, user: target.user, password: target.password,
      connectTimeoutMs: 5000, commandTimeoutMs: 10_000, dataTimeoutMs: 10_000,
      // FERRY_TEST_LOG=debug shows the whole conversation on stderr (passwords masked).
      ...(process.env.FERRY_TEST_LOG ? { logger: pino({ level: process.env.FERRY_TEST_LOG }, pino.destination(2)) } : {}),
      ...target.connect,
      ...extra,
    });
    client = await FtpClient.connect(options());
    const data = pseudoRandomBytes(3 * 1024 * 1024 + 17, 7);

    await t.test("features match the server", () => {
      assert.equal(client.features.mlst, target.quirks.mlst);
      assert.equal(client.features.mfmt, target.quirks.setTime === "MFMT");
      assert.equal(client.features.size, true);
      assert.equal(client.features.epsv, true);
    });

    await t.test("mkdir, ensureDir, cwd, pwd, rmdir", async () => {
      const home = await client.pwd();
      await client.mkdir("one");
      await client.ensureDir("one/two/three");
      await client.ensureDir("one/two"); // exists: fine
      await client.cwd("one/two");
      assert.equal(await client.pwd(), `${home === "/" ? "" : home}/one/two`);
      await client.cwd(home);
      await client.rmdir("one/two/three");
      await assert.rejects(client.rmdir("one/nothing"), (e: unknown) => e instanceof FtpReplyError && e.isPermanent);
      if (target.home) assert.ok((await stat(join(target.home, "one", "two"))).isDirectory());
    });

    await t.test("upload and download a binary file, byte for byte", async () => {
      const sent = await client.upload(Readable.from([data.subarray(0, 1000), data.subarray(1000)]), "one/bin.dat");
      assert.equal(sent, data.length);
      if (target.home) assert.ok((await readFile(join(target.home, "one", "bin.dat"))).equals(data), "bytes on the server's disk");
      const out = sink();
      let progress = 0;
      assert.equal(await client.download("one/bin.dat", out.stream, { onProgress: (n) => (progress = n) }), data.length);
      assert.ok(out.bytes().equals(data));
      assert.equal(progress, data.length);
    });

    await t.test("empty file, a name with spaces and UTF-8, append", async () => {
      assert.equal(await client.upload(Readable.from([]), "one/empty file.txt"), 0);
      await client.upload(Readable.from([Buffer.from("grüß ")]), "one/uni-ü-日本.txt");
      await client.upload(Readable.from([Buffer.from("dich")]), "one/uni-ü-日本.txt", { mode: "append" });
      const out = sink();
      await client.download("one/uni-ü-日本.txt", out.stream);
      assert.equal(out.bytes().toString(), "grüß dich");
      const empty = sink();
      assert.equal(await client.download("one/empty file.txt", empty.stream), 0);
    });

    await t.test("list: types, sizes, names", async () => {
      await client.upload(Readable.from([Buffer.from("h")]), "one/.hidden");
      const entries = await client.list("one");
      const byName = new Map(entries.map((e) => [e.name, e]));
      assert.equal(byName.get("two")?.type, "dir");
      assert.equal(byName.get("bin.dat")?.type, "file");
      assert.equal(byName.get("bin.dat")?.size, data.length);
      assert.equal(byName.get("empty file.txt")?.size, 0);
      assert.equal(byName.get("uni-ü-日本.txt")?.size, Buffer.byteLength("grüß dich"));
      assert.equal(byName.has("."), false);
      assert.equal(byName.has(".."), false);
      assert.equal(byName.has(".hidden"), target.quirks.dotfiles);
      if (target.quirks.mlst) assert.ok(byName.get("bin.dat")?.modifiedAt instanceof Date, "MLSD gives precise times");
      else assert.equal(typeof byName.get("bin.dat")?.rawModifiedAt, "string");
    });

    await t.test("stat, size, modifiedTime", async () => {
      const file = await client.stat("one/bin.dat");
      assert.equal(file?.type, "file");
      assert.equal(file?.name, "bin.dat");
      assert.equal(file?.size, data.length);
      assert.ok(file?.modifiedAt instanceof Date);
      assert.equal((await client.stat("one/two"))?.type, "dir");
      assert.equal(await client.stat("one/absent"), undefined);
      assert.equal(await client.size("one/bin.dat"), data.length);
      const mtime = await client.modifiedTime("one/bin.dat");
      assert.ok(Math.abs(mtime.getTime() - Date.now()) < 10 * 60_000, `recent mtime, got ${mtime.toISOString()}`);
      await assert.rejects(client.size("one/absent"), (e: unknown) => e instanceof FtpReplyError && e.code === 550);
    });

    await t.test(`setModifiedTime (${target.quirks.setTime})`, async () => {
      const when = new Date(Date.UTC(2001, 1, 3, 4, 5, 6));
      const ok = await client.setModifiedTime("one/bin.dat", when);
      assert.equal(ok, target.quirks.setTime !== "none");
      if (ok) {
        assert.deepEqual(await client.modifiedTime("one/bin.dat"), when);
        if (target.home) assert.equal((await stat(join(target.home, "one", "bin.dat"))).mtime.getTime(), when.getTime());
      }
    });

    await t.test("hash", async () => {
      const h = await client.hash("one/bin.dat");
      if (!target.quirks.hash) return assert.equal(h, undefined);
      const { createHash } = await import("node:crypto");
      const expected: Record<string, string> = {
        "SHA-256": createHash("sha256").update(data).digest("hex"),
        "SHA-1": createHash("sha1").update(data).digest("hex"),
        MD5: createHash("md5").update(data).digest("hex"),
      };
      assert.ok(h);
      if (h.algorithm !== "CRC32") assert.equal(h.value, expected[h.algorithm]);
    });

    await t.test("download from an offset (REST)", async () => {
      const out = sink();
      assert.equal(await client.download("one/bin.dat", out.stream, { offset: 1_000_000 }), data.length - 1_000_000);
      assert.ok(out.bytes().equals(data.subarray(1_000_000)));
    });

    await t.test("uploadFile and downloadFile, with offsets", async () => {
      const src = join(local.path, "file.src");
      const bytes = pseudoRandomBytes(2 * 1024 * 1024 + 333, 13);
      await writeFile(src, bytes);
      assert.equal(await client!.uploadFile(src, "one/file.dat"), bytes.length);
      const dst = join(local.path, "file.dst");
      let progress = 0;
      assert.equal(await client!.downloadFile("one/file.dat", dst, { onProgress: (n) => (progress = n) }), bytes.length);
      assert.equal(progress, bytes.length);
      assert.ok((await readFile(dst)).equals(bytes));
      // resume both ways from an offset
      await writeFile(dst, bytes.subarray(0, 700_000));
      assert.equal(await client!.downloadFile("one/file.dat", dst, { offset: 700_000 }), bytes.length - 700_000);
      assert.ok((await readFile(dst)).equals(bytes));
      await client!.upload(Readable.from([bytes.subarray(0, 1_000_000)]), "one/file2.dat");
      assert.equal(await client!.uploadFile(src, "one/file2.dat", { offset: 1_000_000 }), bytes.length - 1_000_000);
      const back = sink();
      await client!.download("one/file2.dat", back.stream);
      assert.ok(back.bytes().equals(bytes));
      await assert.rejects(client!.uploadFile(join(local.path, "missing"), "one/x"), /ENOENT/);
      await client!.noop();
    });

    await t.test("rename and remove", async () => {
      await client.rename("one/bin.dat", "one/renamed.dat");
      assert.equal(await client.size("one/renamed.dat"), data.length);
      await client.remove("one/renamed.dat");
      assert.equal(await client.stat("one/renamed.dat"), undefined);
      await assert.rejects(client.remove("one/renamed.dat"), (e: unknown) => e instanceof FtpReplyError && e.code === 550);
      await assert.rejects(client.rename("one/nope", "one/x"), FtpReplyError);
    });

    await t.test("abort a download with a signal: the connection stays usable", { todo: target.knownIssues?.abort ?? false }, async () => {
      const big = pseudoRandomBytes(24 * 1024 * 1024, 3);
      await client!.upload(Readable.from([big]), "one/big.dat");
      const own = await FtpClient.connect(options()); // its own connection: a server bug here must not derail the rest
      try {
        const controller = new AbortController();
        let seen = 0;
        const stream = new Writable({
          write(c: Buffer, _e, done) {
            seen += c.length;
            if (seen >= 1024 * 1024) controller.abort();
            done();
          },
        });
        await assert.rejects(own.download("one/big.dat", stream, { signal: controller.signal }), (e: unknown) => (e as Error).name === "AbortError");
        assert.equal(own.closed, false);
        assert.equal(await own.size("one/big.dat"), big.length);
        const out = sink();
        await own.download("one/empty file.txt", out.stream);
        assert.equal(await own.pwd(), await client!.pwd());
      } finally {
        own.close();
      }
    });

    await t.test("active mode (EPRT) upload and download", async () => {
      const active = await FtpClient.connect(options({ passive: false }));
      try {
        const bytes = pseudoRandomBytes(300_000, 11);
        await active.upload(Readable.from([bytes]), "one/active.dat");
        const out = sink();
        await active.download("one/active.dat", out.stream);
        assert.ok(out.bytes().equals(bytes));
        assert.ok((await active.list("one")).some((e) => e.name === "active.dat"));
        // downloadFile without the passive fast path (no onread hook on an accepted socket)
        const dst = join(local.path, "active.dst");
        assert.equal(await active.downloadFile("one/active.dat", dst), bytes.length);
        assert.ok((await readFile(dst)).equals(bytes));
      } finally {
        await active.quit();
      }
    });

    const tlsOn = (target.connect?.secure ?? "none") !== "none";
    const big = pseudoRandomBytes(16 * 1024 * 1024, 5);
    const src = join(local.path, "up.src");
    /** Resume a cut download from the local partial file, and check the bytes. */
    const resumeDownload = async (path: string): Promise<void> => {
      const have = (await stat(path)).size;
      assert.ok(have > 0 && have < big.length, `partial download: ${have}`);
      const rest = createWriteStream(path, { flags: "a" });
      assert.equal(await client!.download("one/resume.dat", rest, { offset: have }), big.length - have);
      rest.end();
      await finished(rest);
      assert.ok((await readFile(path)).equals(big), "resumed download is byte-identical");
    };
    /** SIZE the partial file of a cut upload (the server finishes it asynchronously), REST+STOR the rest, check the bytes. */
    const resumeUpload = async (): Promise<void> => {
      let partial = 0;
      for (let i = 0; i < 50; i++) {
        partial = await client!.size("one/resume-up.dat").catch(() => 0);
        if (partial > 0) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.ok(partial > 0 && partial < big.length, `partial upload: ${partial}`);
      const sent = await client!.upload(createReadStream(src, { start: partial }), "one/resume-up.dat", { offset: partial });
      assert.equal(sent, big.length - partial);
      const back = sink();
      await client!.download("one/resume-up.dat", back.stream);
      assert.ok(back.bytes().equals(big), "resumed upload is byte-identical");
    };

    await t.test("resume after a cut connection: download and upload", { skip: tlsOn && "TLS runs cut by killing the session instead (next subtest)" }, async () => {
      await client.upload(Readable.from([big]), "one/resume.dat");
      await writeFile(src, big);
      const proxy = await startCutProxy({ targetPort: target.port, cutAfterBytes: 3 * 1024 * 1024 + 5, maxCuts: 2 });
      try {
        // download, cut after ~3 MiB
        const path = join(local.path, "resume.part");
        const viaProxy = await FtpClient.connect(options({ port: proxy.port }));
        const file = createWriteStream(path);
        await assert.rejects(viaProxy.download("one/resume.dat", file));
        file.end();
        await finished(file);
        viaProxy.close();
        await resumeDownload(path);

        // upload, cut after ~3 MiB, then REST+STOR from the server's size
        const viaProxy2 = await FtpClient.connect(options({ port: proxy.port }));
        await assert.rejects(viaProxy2.upload(createReadStream(src), "one/resume-up.dat"));
        viaProxy2.close();
        await resumeUpload();
        assert.equal(proxy.cuts, 2);
      } finally {
        await proxy.close();
      }
    });

    const killable = tlsOn && target.pid !== undefined;
    await t.test("resume after a killed session under TLS: download and upload", {
      skip: !tlsOn ? "plain runs cut through the proxy (previous subtest)" : !killable && "the server has no per-session process to kill (no pid)",
    }, async () => {
      const pid = target.pid!;
      await client.upload(Readable.from([big]), "one/resume.dat");
      await writeFile(src, big);

      // download: once 2 MiB have arrived, hold the stream (backpressure, so the rest cannot
      // arrive) and SIGKILL the session: both connections die without a 226.
      const spare = sessionProcesses(pid); // the main connection's session survives
      const cut = await FtpClient.connect(options());
      const chunks: Buffer[] = [];
      let seen = 0;
      let killing: Promise<number[]> | undefined;
      const holder = new Writable({
        write(c: Buffer, _e, done) {
          chunks.push(c);
          seen += c.length;
          if (seen < 2 * 1024 * 1024 || killing) return done();
          killing = killSessionProcesses(pid, spare);
          killing.then(() => done(), done);
        },
      });
      // The client may give up (control connection closed) before the kill is confirmed.
      await assert.rejects(cut.download("one/resume.dat", holder));
      cut.close();
      assert.ok(((await killing) ?? []).length > 0, "the download's session was killed");
      const path = join(local.path, "resume-tls.part");
      await writeFile(path, Buffer.concat(chunks));
      await resumeDownload(path);

      // upload: once the server has 1 MiB of it (SIZE on the main connection; at most 4 MiB
      // sent), SIGKILL the session and keep sending until the client notices.
      const spare2 = sessionProcesses(pid);
      const cut2 = await FtpClient.connect(options());
      const step = 256 * 1024;
      let killing2: Promise<number[]> | undefined;
      async function* source(): AsyncGenerator<Buffer> {
        for (let off = 0; off < big.length; off += step) {
          if (off === 4 * 1024 * 1024) {
            for (let i = 0; i < 100 && (await client!.size("one/resume-up.dat").catch(() => 0)) < 1024 * 1024; i++) {
              await new Promise((r) => setTimeout(r, 50));
            }
            killing2 = killSessionProcesses(pid, spare2);
            await killing2;
          }
          yield big.subarray(off, off + step);
        }
      }
      await assert.rejects(cut2.upload(Readable.from(source()), "one/resume-up.dat"));
      cut2.close();
      assert.ok(((await killing2) ?? []).length > 0, "the upload's session was killed");
      await resumeUpload();
    });
  });
}
