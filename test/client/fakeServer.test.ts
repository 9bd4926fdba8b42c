import { test } from "node:test";
import assert from "node:assert/strict";
import type { Socket } from "node:net";
import { PassThrough, Readable, Writable } from "node:stream";
import { pino } from "pino";
import {
  FtpClient, FtpConnectionError, FtpReplyError, FtpTimeoutError, FtpUsageError, ProtocolError, isRetriable,
  type ConnectOptions,
} from "../../src/client/index.js";
import { startFakeFtpServer, sendData, type FakeServerOptions, type FakeServer, type FakeSession } from "../helpers/fakeFtpServer.js";

const SECRET = "s3cr3t-Passw0rd";

function captureLogger(): { logger: pino.Logger; text: () => string } {
  const lines: string[] = [];
  const logger = pino({ level: "debug" }, { write: (s: string) => void lines.push(s) });
  return { logger, text: () => lines.join("") };
}

async function withServer(t: import("node:test").TestContext, options: FakeServerOptions): Promise<FakeServer> {
  const server = await startFakeFtpServer(options);
  t.after(() => server.close());
  return server;
}

async function connectTo(t: import("node:test").TestContext, server: FakeServer, extra: Partial<ConnectOptions> = {}): Promise<FtpClient> {
  const client = await FtpClient.connect({
    host: "127.0.0.1", port: server.port, user: "alice", password: SECRET,
    connectTimeoutMs: 5000, commandTimeoutMs: 5000, dataTimeoutMs: 5000, ...extra,
  });
  t.after(() => client.close());
  return client;
}

function collect(): { sink: Writable; text: () => string } {
  const chunks: Buffer[] = [];
  const sink = new Writable({ write: (c: Buffer, _e, done) => (chunks.push(c), done()) });
  return { sink, text: () => Buffer.concat(chunks).toString() };
}

test("multi-line greeting with odd continuation lines, then login", async (t) => {
  const server = await withServer(t, {
    greeting: "220-Welcome to\r\n220-  the fake server\r\n  indented line\r\n123 not the end\r\n220 ready\r\n",
  });
  const client = await connectTo(t, server);
  assert.equal(client.closed, false);
  assert.deepEqual(server.commands.slice(0, 4), ["USER alice", `PASS ${SECRET}`, "FEAT", "TYPE I"]);
});

test("FEAT discovery: MLST, MFMT, HASH and legacy hash commands; OPTS UTF8 ON when offered", async (t) => {
  const server = await withServer(t, { features: ["MLST type*;size*;modify*;", "MFMT", "UTF8", "HASH SHA-1*;SHA-256;MD5", "XMD5", "XCRC", "SIZE"] });
  const client = await connectTo(t, server);
  assert.equal(client.features.mlst, true);
  assert.equal(client.features.mfmt, true);
  assert.equal(client.features.utf8, true);
  assert.deepEqual(client.features.hash, ["SHA-256", "SHA-1", "MD5"]);
  assert.deepEqual(client.features.legacyHash, ["MD5", "CRC32"]);
  assert.ok(server.commands.includes("OPTS UTF8 ON"));
});

test("a server without FEAT: no capabilities, still usable", async (t) => {
  const server = await withServer(t, { handlers: { FEAT: (_a, s) => s.reply(500, "Unknown command.") } });
  const client = await connectTo(t, server);
  assert.equal(client.features.mlst, false);
  await client.noop();
});

test("ACCT is sent when the server asks for an account", async (t) => {
  const server = await withServer(t, {
    handlers: { PASS: (_a, s) => s.reply(332, "Need account."), ACCT: (_a, s) => s.reply(230, "ok") },
  });
  await connectTo(t, server, { account: "acme" });
  assert.ok(server.commands.includes("ACCT acme"));
});

test("a wrong password: FtpReplyError 530 that never shows the password, in errors or logs", async (t) => {
  const server = await withServer(t, { handlers: { PASS: (_a, s) => s.reply(530, "Login incorrect.") } });
  const { logger, text } = captureLogger();
  const err = await FtpClient.connect({ host: "127.0.0.1", port: server.port, user: "alice", password: SECRET, logger }).then(
    () => assert.fail("login should fail"), (e: unknown) => e);
  assert.ok(err instanceof FtpReplyError);
  assert.equal(err.code, 530);
  assert.equal(err.isPermanent, true);
  assert.equal(isRetriable(err), false);
  const everything = `${err.message} ${err.stack} ${JSON.stringify(err)} ${text()}`;
  assert.ok(!everything.includes(SECRET), "password leaked");
  assert.match(text(), /PASS \*\*\*\*/);
});

test("421 mid-session: the reply error, then every later call fails with it as the cause", async (t) => {
  const server = await withServer(t, {
    handlers: { NOOP: (_a, s) => { s.reply(421, "Timeout."); s.close(); } },
  });
  const client = await connectTo(t, server);
  const first = await client.noop().then(() => assert.fail("expected 421"), (e: unknown) => e);
  assert.ok(first instanceof FtpReplyError);
  assert.equal(first.code, 421);
  assert.equal(isRetriable(first), true);
  assert.equal(client.closed, true);
  const later = await client.pwd().then(() => assert.fail("closed"), (e: unknown) => e);
  assert.ok(later instanceof FtpConnectionError);
  assert.match(later.message, /421/);
  assert.ok((later.cause as Error).message.includes("421"));
  assert.equal(isRetriable(later), true);
});

test("an unsolicited 421 while idle closes the client; later calls carry it as the cause", async (t) => {
  const server = await withServer(t, {
    handlers: {
      NOOP: (_a, s) => {
        s.reply(200, "ok");
        setTimeout(() => { s.reply(421, "Idle timeout."); s.close(); }, 30);
      },
    },
  });
  const client = await connectTo(t, server);
  await client.noop();
  for (let i = 0; i < 200 && !client.closed; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(client.closed, true);
  const err = await client.pwd().then(() => assert.fail("closed"), (e: unknown) => e);
  assert.ok(err instanceof FtpConnectionError);
  assert.match(err.message, /421 Idle timeout/);
});

test("LIST fallback: MLSD absent, LIST -a refused, LIST with a DOS listing is parsed", async (t) => {
  const dos = "02-11-24  10:15AM       <DIR>          sub dir\r\n02-11-24  01:05PM              1234 report.txt\r\n";
  const server = await withServer(t, {
    handlers: {
      LIST: async (arg, s) => {
        if (arg.startsWith("-a")) return s.reply(501, "Bad option.");
        await sendData(s, dos);
      },
    },
  });
  const client = await connectTo(t, server);
  const entries = await client.list();
  assert.deepEqual(entries, [
    { name: "sub dir", type: "dir", rawModifiedAt: "02-11-24 10:15AM" },
    { name: "report.txt", type: "file", size: 1234, rawModifiedAt: "02-11-24 01:05PM" },
  ]);
  server.commands.length = 0;
  await client.list("sub dir");
  assert.ok(server.commands.includes("LIST sub dir"), "the LIST that worked is remembered");
  assert.ok(!server.commands.some((c) => c.startsWith("LIST -a")));
});

test("MLSD answering 550 (no such folder) is the answer: no LIST fallback, MLSD stays the strategy", async (t) => {
  const server = await withServer(t, {
    features: ["MLST type*;size*;modify*;", "EPSV"],
    handlers: {
      MLSD: (arg, s) => (arg === "missing" ? s.reply(550, "No such directory.") : sendData(s, "type=file;size=3; a b.txt\r\n")),
      LIST: (_a, s) => sendData(s, ""), // pure-ftpd: an empty listing for a missing folder
    },
  });
  const client = await connectTo(t, server);
  await assert.rejects(client.list("missing"), (e: unknown) => e instanceof FtpReplyError && e.code === 550);
  assert.deepEqual((await client.list("with space")).map((e) => e.name), ["a b.txt"]);
  assert.ok(!server.commands.some((c) => c.startsWith("LIST")), server.commands.join("\n"));
});

test("uploadBuffer: one STOR of the bytes, empty ones included", async (t) => {
  const server = await withServer(t, {});
  const client = await connectTo(t, server);
  assert.equal(await client.uploadBuffer(Buffer.from("hello"), "h.txt"), 5);
  assert.equal(await client.uploadBuffer(Buffer.alloc(0), "empty"), 0);
  assert.deepEqual(server.uploads.get("h.txt"), Buffer.from("hello"));
  assert.deepEqual(server.uploads.get("empty") ?? Buffer.alloc(0), Buffer.alloc(0));
});

test("renameWithTime: MFMT on the source, RNFR, RNTO pipelined; a refused rename rejects, the connection stays usable", async (t) => {
  const server = await withServer(t, {
    features: ["MFMT", "EPSV"],
    handlers: {
      MFMT: (_a, s) => s.reply(213, "Modify=20240211101530; .p"),
      RNFR: (arg, s) => (arg === "missing" ? s.reply(550, "No such file.") : s.reply(350, "Ready for RNTO.")),
      RNTO: (_a, s) => s.reply(250, "Rename successful."),
    },
  });
  const client = await connectTo(t, server);
  const when = new Date(Date.UTC(2024, 1, 11, 10, 15, 30));
  assert.equal(await client.renameWithTime(".p", "t", when), true);
  assert.deepEqual(server.commands.slice(-3), ["MFMT 20240211101530 .p", "RNFR .p", "RNTO t"]);
  assert.equal(await client.renameWithTime(".q", "u", undefined), false);
  assert.deepEqual(server.commands.slice(-2), ["RNFR .q", "RNTO u"]);
  await assert.rejects(client.renameWithTime("missing", "v", when), (e: unknown) => e instanceof FtpReplyError && e.code === 550);
  await client.noop();
  assert.equal(client.closed, false);
});

test("renameWithTime on a vsftpd-like server: two-argument MDTM; a time-bearing reply means not set", async (t) => {
  const server = await withServer(t, {
    features: ["MDTM", "EPSV"],
    handlers: {
      MDTM: (arg, s) => (arg.includes("old") ? s.reply(213, "20240211101530") : s.reply(213, "File modification time set.")),
      RNFR: (_a, s) => s.reply(350, "Ready for RNTO."),
      RNTO: (_a, s) => s.reply(250, "Rename successful."),
    },
  });
  const client = await connectTo(t, server);
  const when = new Date(Date.UTC(2024, 1, 11, 10, 15, 30));
  assert.equal(await client.renameWithTime(".p", "t", when), true);
  assert.equal(await client.renameWithTime("old", "t", when), false);
  assert.ok(server.commands.includes("MDTM 20240211101530 .p"));
});

test("a hostile listing: ../ and slash names are dropped and logged, never returned", async (t) => {
  const listing = [
    "type=file;size=3; ../../etc/passwd",
    "type=file;size=3; ..\\evil",
    "type=dir; sub/../../x",
    "type=file;size=3;modify=20240211101530; fine.txt",
  ].join("\r\n");
  const server = await withServer(t, {
    features: ["MLST type*;size*;modify*;", "EPSV"],
    handlers: { MLSD: (_a, s) => sendData(s, listing + "\r\n") },
  });
  const { logger, text } = captureLogger();
  const client = await connectTo(t, server, { logger });
  const entries = await client.list();
  assert.deepEqual(entries.map((e) => e.name), ["fine.txt"]);
  assert.deepEqual(entries[0]?.modifiedAt, new Date(Date.UTC(2024, 1, 11, 10, 15, 30)));
  assert.equal((text().match(/listing entry refused/g) ?? []).length, 3);
});

test("EPSV refused: PASV with a private address connects to the control host, and PASV is remembered", async (t) => {
  const server = await withServer(t, {
    pasvAddress: "10.99.1.2",
    handlers: { EPSV: (_a, s) => s.reply(500, "EPSV not understood"), RETR: (_a, s) => sendData(s, "hello") },
  });
  const client = await connectTo(t, server);
  const out = collect();
  assert.equal(await client.download("f.txt", out.sink), 5);
  assert.equal(out.text(), "hello");
  server.commands.length = 0;
  await client.download("f.txt", collect().sink);
  assert.deepEqual(server.commands.filter((c) => /^(EPSV|PASV)/.test(c)), ["PASV"]);
});

test("PASV advertising a foreign public address is refused", async (t) => {
  const server = await withServer(t, {
    pasvAddress: "8.8.8.8",
    handlers: { EPSV: (_a, s) => s.reply(502, "no"), RETR: (_a, s) => sendData(s, "x") },
  });
  const client = await connectTo(t, server);
  await assert.rejects(client.download("f", collect().sink), (e: unknown) => e instanceof ProtocolError && /bounce/.test(e.message));
});

test("active mode: EPRT, the server connects back, upload bytes arrive", async (t) => {
  const server = await withServer(t, {});
  const client = await connectTo(t, server, { passive: false });
  const n = await client.upload(Readable.from([Buffer.from("active "), Buffer.from("bytes")]), "up.txt");
  assert.equal(n, 12);
  assert.equal(server.uploads.get("up.txt")?.toString(), "active bytes");
  assert.ok(server.commands.some((c) => c.startsWith("EPRT |1|127.0.0.1|")));
});

test("resume: REST then RETR, REST then STOR, APPE", async (t) => {
  const server = await withServer(t, { handlers: { REST: (_a, s) => s.reply(350, "Restart position accepted."), RETR: (_a, s) => sendData(s, "tail") } });
  const client = await connectTo(t, server);
  await client.download("f", collect().sink, { offset: 10 });
  await client.upload(Readable.from([Buffer.from("rest")]), "g", { offset: 4 });
  await client.upload(Readable.from([Buffer.from("more")]), "g", { mode: "append" });
  const seq = server.commands.filter((c) => /^(REST|RETR|STOR|APPE)/.test(c));
  assert.deepEqual(seq, ["REST 10", "RETR f", "REST 4", "STOR g", "APPE g"]);
  await assert.rejects(client.upload(Readable.from([]), "g", { mode: "append", offset: 3 }), FtpUsageError);
});

test("a transfer reply error (550) leaves the connection usable", async (t) => {
  const server = await withServer(t, { handlers: { RETR: (_a, s) => s.reply(550, "Failed to open file.") } });
  const client = await connectTo(t, server);
  await assert.rejects(client.download("missing", collect().sink), (e: unknown) => e instanceof FtpReplyError && e.code === 550);
  await client.noop();
  assert.equal(client.closed, false);
});

test("226 before the data ends, and data before 150: both orders complete", async (t) => {
  const server = await withServer(t, {
    handlers: {
      RETR: async (arg, s) => {
        const d = await s.data();
        if (arg === "early-226") {
          s.reply(150, "here it comes");
          s.reply(226, "done already");
          setTimeout(() => d.end("late data"), 50);
        } else {
          d.end("data first");
          await new Promise((r) => setTimeout(r, 50));
          s.reply(150, "here it comes");
          s.reply(226, "done");
        }
      },
    },
  });
  const client = await connectTo(t, server);
  const a = collect();
  assert.equal(await client.download("early-226", a.sink), 9);
  assert.equal(a.text(), "late data");
  const b = collect();
  assert.equal(await client.download("data-first", b.sink), 10);
  assert.equal(b.text(), "data first");
});

test("single-flight: a second command while one runs is a loud FtpUsageError naming both calls", async (t) => {
  const server = await withServer(t, {
    handlers: { NOOP: (_a, s) => void setTimeout(() => s.reply(200, "slow ok"), 100) },
  });
  const client = await connectTo(t, server);
  const first = client.noop();
  const second = client.pwd();
  const err = await second.then(() => assert.fail("must be refused"), (e: unknown) => e);
  assert.ok(err instanceof FtpUsageError);
  assert.match(err.message, /PWD was sent while NOOP is still running/);
  assert.match(err.message, /running call:[\s\S]*FERRY_TRACE_CALLS=1[\s\S]*second call:\n[\s\S]*fakeServer\.test\.ts/);
  assert.equal(isRetriable(err), false);
  await first; // the first command is unharmed
  await client.noop();
});

/** Answers 150 and returns the data connection (its errors ignored: the client may reset it). */
async function openData(s: FakeSession): Promise<Socket> {
  s.reply(150, "Opening data connection.");
  const d = await s.data();
  d.on("error", () => undefined);
  return d;
}

/** Answers 150 and sends data until `stop()` or the client goes away; returns the data socket. */
async function sendUntil(s: FakeSession, stop: () => boolean): Promise<Socket> {
  const d = await openData(s);
  const chunk = Buffer.alloc(16 * 1024, 7);
  while (!stop() && !d.destroyed) {
    if (!d.write(chunk)) await new Promise((r) => { d.once("drain", r); d.once("close", r); });
  }
  return d;
}

/** Downloads `path`, aborting through a signal once 64 KiB arrived; the call must reject with AbortError. */
async function downloadAbortedAfter64KiB(client: FtpClient, path: string): Promise<void> {
  const controller = new AbortController();
  let seen = 0;
  const sink = new Writable({
    write(c: Buffer, _e, done) {
      seen += c.length;
      if (seen > 64 * 1024) controller.abort();
      done();
    },
  });
  await assert.rejects(client.download(path, sink, { signal: controller.signal }), (e: unknown) => (e as Error).name === "AbortError");
}

test("abort via AbortSignal: ABOR is sent, the call rejects, and the connection stays usable", async (t) => {
  let stopped = false;
  const server = await withServer(t, {
    handlers: {
      RETR: async (_a, s) => {
        await sendUntil(s, () => stopped);
        s.reply(426, "Failure writing network stream.");
      },
      ABOR: (_a, s) => {
        stopped = true;
        s.reply(226, "ABOR successful.");
      },
    },
  });
  const client = await connectTo(t, server);
  await downloadAbortedAfter64KiB(client, "big");
  assert.ok(server.commands.includes("ABOR"));
  await client.noop();
  assert.equal(await client.pwd(), "/");
  assert.equal(client.closed, false);
});

test("abort against a server that drops what came with ABOR (pure-ftpd): NOOP waits for its reply", async (t) => {
  // pure-ftpd reads ABOR mid-transfer with one read() and drops the rest of that read, then
  // answers 426 + 226. Here: anything arriving before the 426 is dropped, and the 426 comes
  // 50 ms after ABOR, so a NOOP sent together with ABOR is never answered.
  let stopped = false;
  let dropping = false;
  const dropped: string[] = [];
  const server = await withServer(t, {
    handlers: {
      RETR: async (_a, s) => {
        (await sendUntil(s, () => stopped)).destroy();
      },
      ABOR: async (_a, s) => {
        stopped = true;
        dropping = true;
        await new Promise((r) => setTimeout(r, 50));
        dropping = false;
        s.reply(426, "ABORT");
        s.reply(226, "Aborted.");
      },
      NOOP: (_a, s) => {
        if (dropping) dropped.push("NOOP");
        else s.reply(200, "Zzz...");
      },
    },
  });
  const client = await connectTo(t, server, { commandTimeoutMs: 2_000 });
  await downloadAbortedAfter64KiB(client, "big");
  assert.deepEqual(dropped, []);
  assert.equal(await client.pwd(), "/");
  assert.equal(client.closed, false);
});

test("the server closes the control connection mid-download: the data still coming is read to its end, then the call fails", async (t) => {
  const first = Buffer.alloc(200_000, 1);
  const rest = Buffer.alloc(100_000, 2);
  const server = await withServer(t, {
    handlers: {
      RETR: async (_a, s) => {
        const d = await openData(s);
        await new Promise<void>((r) => d.write(first, () => r()));
        // The control connection goes first (a NAT timeout, a restart); the data keeps coming.
        await new Promise<void>((r) => { s.control.once("close", () => r()); s.control.destroy(); });
        await new Promise((r) => setTimeout(r, 50));
        d.end(rest);
      },
    },
  });
  const client = await connectTo(t, server);
  const got: Buffer[] = [];
  const sink = new Writable({ write(c: Buffer, _e, done) { got.push(c); done(); } });
  await assert.rejects(client.download("big", sink), (e: unknown) => e instanceof FtpConnectionError && /closed the control connection/.test(e.message));
  assert.deepEqual(Buffer.concat(got), Buffer.concat([first, rest]));
});

test("a download aborted while the data is drained after a lost control connection stops at once", { timeout: 10_000 }, async (t) => {
  let release: () => void = () => {};
  const server = await withServer(t, {
    handlers: {
      RETR: async (_a, s) => {
        const d = await openData(s);
        await new Promise<void>((r) => d.write(Buffer.alloc(50_000, 1), () => r()));
        s.control.destroy();
        await new Promise<void>((r) => (release = r)); // the data connection stays open, silent
        d.destroy();
      },
    },
  });
  t.after(() => release());
  const client = await connectTo(t, server, { dataTimeoutMs: 60_000 });
  const controller = new AbortController();
  let seen = 0;
  const sink = new Writable({
    write(c: Buffer, _e, done) {
      seen += c.length;
      if (seen >= 50_000) setImmediate(() => controller.abort());
      done();
    },
  });
  await assert.rejects(client.download("big", sink, { signal: controller.signal }), FtpConnectionError);
  assert.equal(seen, 50_000);
});

test("a stalled data connection times out with FtpTimeoutError and closes the client", async (t) => {
  const server = await withServer(t, {
    handlers: { RETR: async (_a, s) => { s.reply(150, "Opening."); await s.data(); /* and never send */ } },
  });
  const client = await connectTo(t, server, { dataTimeoutMs: 300 });
  const err = await client.download("stall", collect().sink).then(() => assert.fail("should time out"), (e: unknown) => e);
  assert.ok(err instanceof FtpTimeoutError, String(err));
  assert.match(err.message, /stalled/);
  assert.equal(isRetriable(err), true);
  assert.equal(client.closed, true);
});

test("a command without a reply times out with FtpTimeoutError", async (t) => {
  const server = await withServer(t, { handlers: { PWD: () => undefined } });
  const client = await connectTo(t, server, { commandTimeoutMs: 300 });
  await assert.rejects(client.pwd(), FtpTimeoutError);
  assert.equal(client.closed, true);
});

test("an unexpected 3xx during a transfer is fatal to the connection", async (t) => {
  const server = await withServer(t, { handlers: { RETR: (_a, s) => s.reply(350, "what?") } });
  const client = await connectTo(t, server);
  await assert.rejects(client.download("f", collect().sink), FtpConnectionError);
  assert.equal(client.closed, true);
});

test("stat without MLST: SIZE+MDTM for files, the parent listing for directories, undefined when missing", async (t) => {
  const server = await withServer(t, {
    handlers: {
      SIZE: (a, s) => (a === "d/file.bin" ? s.reply(213, "42") : s.reply(550, "Could not get file size.")),
      MDTM: (_a, s) => s.reply(213, "20240211101530"),
      LIST: (_a, s) => sendData(s, "drwxr-xr-x 2 0 0 4096 Feb 11 10:15 sub\r\n"),
    },
  });
  const client = await connectTo(t, server);
  assert.deepEqual(await client.stat("d/file.bin"), { name: "file.bin", type: "file", size: 42, modifiedAt: new Date(Date.UTC(2024, 1, 11, 10, 15, 30)) });
  assert.deepEqual(await client.stat("d/sub"), { name: "sub", type: "dir", size: 4096, rawModifiedAt: "Feb 11 10:15" });
  assert.equal(await client.stat("d/nothing"), undefined);
});

test("stat with MLST; setModifiedTime with MFMT; hash with HASH after OPTS HASH", async (t) => {
  const server = await withServer(t, {
    features: ["MLST type*;size*;modify*;", "MFMT", "HASH SHA-1*;SHA-256", "EPSV"],
    handlers: {
      MLST: (a, s) => (a === "none" ? s.reply(550, "No such file") : s.reply(250, ["Listing " + a, ` type=file;size=9;modify=20240211101530; /x/${a}`, "End"])),
      MFMT: (_a, s) => s.reply(213, "Modify=20240211101530; f"),
      HASH: (a, s) => s.reply(213, `SHA-256 0-9 ABCDEF0123 ${a}`),
    },
  });
  const client = await connectTo(t, server);
  const st = await client.stat("f.txt");
  assert.equal(st?.name, "f.txt");
  assert.equal(st?.size, 9);
  assert.equal(await client.stat("none"), undefined);
  assert.equal(await client.setModifiedTime("f", new Date(Date.UTC(2024, 1, 11, 10, 15, 30, 500))), true);
  assert.ok(server.commands.includes("MFMT 20240211101530 f"));
  assert.deepEqual(await client.hash("f"), { algorithm: "SHA-256", value: "abcdef0123" });
  assert.ok(server.commands.includes("OPTS HASH SHA-256"));
});

test("setModifiedTime: two-argument MDTM (vsftpd), false when refused; legacy XSHA1 hash", async (t) => {
  const server = await withServer(t, {
    features: ["MDTM", "XSHA1", "EPSV"],
    handlers: {
      MDTM: (a, s) => (a.startsWith("2024") && a.endsWith(" ok") ? s.reply(213, "File modification time set.") : s.reply(550, "nope")),
      XSHA1: (_a, s) => s.reply(250, "0123456789ABCDEF0123456789ABCDEF01234567"),
    },
  });
  const client = await connectTo(t, server);
  const when = new Date(Date.UTC(2024, 1, 11, 10, 15, 30));
  assert.equal(await client.setModifiedTime("ok", when), true);
  assert.equal(await client.setModifiedTime("bad", when), false);
  assert.deepEqual(await client.hash("f"), { algorithm: "SHA-1", value: "0123456789abcdef0123456789abcdef01234567" });
  assert.equal(await client.hash("f", { algorithms: ["MD5"] }), undefined);
});

test("pwd unquotes doubled quotes; ensureDir creates missing parents and accepts existing ones", async (t) => {
  const made = new Set(["a"]);
  const server = await withServer(t, {
    handlers: {
      PWD: (_a, s) => s.reply(257, '"/say ""hi""" is current'),
      MKD: (a, s) => (made.has(a) ? s.reply(550, "exists") : (made.add(a), s.reply(257, `"${a}" created`))),
      CWD: (a, s) => (made.has(a) || a.startsWith("/") ? s.reply(250, "ok") : s.reply(550, "no")),
    },
  });
  const client = await connectTo(t, server);
  assert.equal(await client.pwd(), '/say "hi"');
  await client.ensureDir("a/b/c");
  assert.ok(made.has("a/b/c"));
  await client.ensureDir("a");
});

test("commands with CR/LF in a path are refused before anything is sent", async (t) => {
  const server = await withServer(t, {});
  const client = await connectTo(t, server);
  await assert.rejects(client.remove("evil\r\nDELE other"), ProtocolError);
  assert.ok(!server.commands.some((c) => c.startsWith("DELE")));
  await client.noop();
});

test("upload from a stream that fails: ABOR, the source's error, connection usable", async (t) => {
  const server = await withServer(t, {});
  const client = await connectTo(t, server);
  const source = new PassThrough();
  source.write("partial");
  setTimeout(() => source.destroy(new Error("disk read failed")), 50);
  await assert.rejects(client.upload(source, "x"), /disk read failed/);
  await client.noop();
});

async function hasIPv6Loopback(): Promise<boolean> {
  const { createServer } = await import("node:net");
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once("error", () => resolve(false));
    srv.listen(0, "::1", () => srv.close(() => resolve(true)));
  });
}

test("IPv6: connect to ::1, EPSV only (PASV cannot carry IPv6), EPRT |2| in active mode", async (t) => {
  if (!(await hasIPv6Loopback())) return t.skip("no IPv6 loopback (::1) on this machine");
  const server = await withServer(t, { host: "::1", handlers: { RETR: (_a, s) => sendData(s, "over v6") } });
  const client = await connectTo(t, server, { host: "::1" });
  const out = collect();
  await client.download("f", out.sink);
  assert.equal(out.text(), "over v6");
  const active = await connectTo(t, server, { host: "::1", passive: false });
  await active.upload(Readable.from([Buffer.from("v6 up")]), "g");
  assert.equal(server.uploads.get("g")?.toString(), "v6 up");
  assert.ok(server.commands.some((c) => c.startsWith("EPRT |2|::1|")));
  assert.ok(!server.commands.includes("PASV"));
});

test("a slow destination applies backpressure and still receives every byte", async (t) => {
  const body = Buffer.alloc(3 * 1024 * 1024, 1);
  for (let i = 0; i < body.length; i += 4096) body[i] = i & 0xff;
  const server = await withServer(t, { handlers: { RETR: (_a, s) => sendData(s, body) } });
  const client = await connectTo(t, server);
  const chunks: Buffer[] = [];
  let maxBuffered = 0;
  const slow = new Writable({
    highWaterMark: 64 * 1024,
    write(c: Buffer, _e, done) {
      chunks.push(Buffer.from(c));
      maxBuffered = Math.max(maxBuffered, slow.writableLength);
      setImmediate(done);
    },
  });
  assert.equal(await client.download("f", slow), body.length);
  assert.ok(Buffer.concat(chunks).equals(body));
  assert.ok(maxBuffered < 2 * 1024 * 1024, `destination never held more than a few chunks (${maxBuffered})`);
});

test("secure explicit: AUTH TLS refused means no login at all (no password in clear)", async (t) => {
  const server = await withServer(t, { handlers: { AUTH: (_a, s) => s.reply(502, "AUTH not supported.") } });
  await assert.rejects(
    FtpClient.connect({ host: "127.0.0.1", port: server.port, user: "alice", password: SECRET, secure: "explicit" }),
    (e: unknown) => e instanceof FtpReplyError && e.code === 502,
  );
  assert.deepEqual(server.commands, ["AUTH TLS"]);
});

test("upload from a stream that fails before the server is ready: ABOR, the error, connection usable", async (t) => {
  const source = new PassThrough();
  const server = await withServer(t, {
    handlers: {
      STOR: async (_a, s) => {
        // The source fails once STOR was sent and before the server's 150.
        source.destroy(new Error("early failure"));
        await new Promise((r) => setTimeout(r, 100));
        s.reply(150, "Ok to send data.");
        const d = await s.data();
        d.resume();
        if (!d.closed) await new Promise((r) => d.once("close", r));
        s.reply(226, "Transfer complete.");
      },
      ABOR: (_a, s) => s.reply(226, "ABOR successful."),
    },
  });
  const client = await connectTo(t, server);
  await assert.rejects(client.upload(source, "x"), /early failure/);
  await client.noop();
  assert.ok(server.commands.includes("ABOR"));
});

test("upload from a stream that fails while the data connection is set up: the error, no STOR, no crash, connection usable", async (t) => {
  const source = new PassThrough();
  const server = await withServer(t, {
    handlers: {
      // No listener of the transfer is on the source yet: its 'error' must not go unheard.
      // (EPSV refused: the client falls back to PASV, so the source fails mid set-up.)
      EPSV: (_a, s) => {
        source.destroy(new Error("failed during EPSV"));
        s.reply(500, "EPSV not understood.");
      },
    },
  });
  const client = await connectTo(t, server);
  await assert.rejects(client.upload(source, "x"), /failed during EPSV/);
  await client.noop();
  assert.ok(!server.commands.some((c) => c.startsWith("STOR")), `no STOR sent: ${server.commands.join(", ")}`);
});

test("downloadFile: abort leaves a partial file and a usable connection; a resume completes it", async (t) => {
  const body = Buffer.alloc(4 * 1024 * 1024);
  for (let i = 0; i < body.length; i++) body[i] = (i * 7) & 0xff;
  let slow = true;
  const server = await withServer(t, {
    handlers: {
      REST: (a, s) => { s.state.rest = Number(a); s.reply(350, "Restart position accepted."); },
      RETR: async (_a, s) => {
        s.reply(150, "Opening.");
        const d = await s.data();
        d.on("error", () => undefined);
        const from = (s.state.rest as number | undefined) ?? 0;
        s.state.rest = 0;
        for (let i = from; i < body.length && !d.destroyed; i += 64 * 1024) {
          d.write(body.subarray(i, Math.min(body.length, i + 64 * 1024)));
          if (slow) await new Promise((r) => setTimeout(r, 5));
        }
        if (d.destroyed) return s.reply(426, "Connection closed; transfer aborted.");
        d.end();
        await new Promise((r) => d.once("close", r));
        s.reply(226, "Transfer complete.");
      },
      ABOR: (_a, s) => s.reply(226, "ABOR successful."),
    },
  });
  const { tempDir } = await import("../helpers/tmp.js");
  const { readFile, stat } = await import("node:fs/promises");
  const dir = await tempDir();
  t.after(() => dir.remove());
  const file = `${dir.path}/out.bin`;
  const client = await connectTo(t, server);
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 60);
  await assert.rejects(client.downloadFile("f", file, { signal: controller.signal }), (e: unknown) => (e as Error).name === "AbortError");
  await client.noop();
  const have = (await stat(file)).size;
  assert.ok(have > 0 && have < body.length, `partial file: ${have}`);
  assert.ok((await readFile(file)).equals(body.subarray(0, have)), "the partial file holds exactly the bytes received");
  slow = false;
  assert.equal(await client.downloadFile("f", file, { offset: have }), body.length - have);
  assert.ok((await readFile(file)).equals(body));
});
