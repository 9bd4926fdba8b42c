// FAULTS B4, B5, B6, B7, B10, B12: the client's control protocol against a hostile or broken
// server (I3, I6, I8, I9, I10, I15). Cases fully asserted in test/client/fakeServer.test.ts
// are listed in test/faults/README.md and not repeated here.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server, type Socket } from "node:net";
import { Writable } from "node:stream";
import { pino } from "pino";
import {
  FtpClient, FtpConnectionError, FtpReplyError, FtpTimeoutError, FtpUsageError, ProtocolError, type ConnectOptions,
} from "../../src/client/index.js";
import { generateSelfSignedCert } from "../../src/server/selfSigned.js";
import { startFakeFtpServer, sendData, type FakeServer, type FakeServerOptions } from "../helpers/fakeFtpServer.js";
import { startFerryServer } from "../helpers/ferryServer.js";
import { runFerry } from "../helpers/cli.js";
import { tempDir } from "../helpers/tmp.js";

async function withServer(t: import("node:test").TestContext, options: FakeServerOptions): Promise<FakeServer> {
  const server = await startFakeFtpServer(options);
  t.after(() => server.close());
  return server;
}

function connect(t: import("node:test").TestContext, server: FakeServer, extra: Partial<ConnectOptions> = {}): Promise<FtpClient> {
  return FtpClient.connect({
    host: "127.0.0.1", port: server.port, user: "alice", password: "secret",
    connectTimeoutMs: 3000, commandTimeoutMs: 3000, dataTimeoutMs: 3000, ...extra,
  }).then((c) => {
    t.after(() => c.close());
    return c;
  });
}

function sink(): { sink: Writable; text: () => string } {
  const chunks: Buffer[] = [];
  return { sink: new Writable({ write: (c: Buffer, _e, done) => (chunks.push(c), done()) }), text: () => Buffer.concat(chunks).toString() };
}

function listen(server: Server, host: string, port = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve((server.address() as { port: number }).port));
  });
}

// ---- B4: a 227 lure --------------------------------------------------------------------

test("B4: a 227 naming 127.0.0.2 or 169.254.x.y: the client connects to the control peer's address only (listener on 127.0.0.2 gets nothing)", async (t) => {
  for (const lureHost of ["127.0.0.2", "169.254.7.7"]) {
    let lured = 0;
    const lure = createServer((s) => { lured++; s.destroy(); });
    t.after(() => lure.close());
    const port = await listen(lure, "127.0.0.2");
    // The real data port: the same number on the control peer's address.
    const real = createServer();
    t.after(() => real.close());
    await listen(real, "127.0.0.1", port);
    const dataSocket = new Promise<Socket>((resolve) => real.once("connection", resolve));
    const server = await withServer(t, {
      handlers: {
        EPSV: (_a, s) => s.reply(500, "EPSV not understood"),
        PASV: (_a, s) => s.reply(227, `Entering Passive Mode (${lureHost.split(".").join(",")},${port >> 8},${port & 255}).`),
        RETR: async (_a, s) => {
          s.reply(150, "Opening BINARY mode data connection.");
          const d = await dataSocket;
          d.end("hello");
          await new Promise((r) => d.once("close", r));
          s.reply(226, "Transfer complete.");
        },
      },
    });
    const client = await connect(t, server);
    const out = sink();
    assert.equal(await client.download("f", out.sink), 5);
    assert.equal(out.text(), "hello");
    assert.equal(lured, 0, `no connection to the lure for ${lureHost}`);
  }
});

// ---- B5: STARTTLS response injection -----------------------------------------------------

test("B5: plaintext after 234 (a whole injected reply, or part of one) aborts before TLS; nothing more is sent", async (t) => {
  for (const injected of ["234 OK\r\n230 Logged in\r\n", "234 OK\r\n230 Logg"]) {
    const server = await withServer(t, { handlers: { AUTH: (_a, s) => s.write(injected) } });
    await assert.rejects(
      FtpClient.connect({ host: "127.0.0.1", port: server.port, user: "alice", password: "secret", secure: "explicit", connectTimeoutMs: 3000 }),
      (e: unknown) => e instanceof ProtocolError && /sent more after the reply that starts TLS/.test(e.message),
    );
    assert.deepEqual(server.commands, ["AUTH TLS"]);
  }
});

// ---- B6: TLS downgrade and certificates ----------------------------------------------------

test("B6: AUTH TLS answered 500, 502, 530 or a fake 200 with TLS required: a clear error, USER/PASS never sent", async (t) => {
  for (const [code, text] of [[500, "unknown command"], [502, "not implemented"], [530, "not logged in"], [200, "OK whatever"]] as const) {
    const server = await withServer(t, { handlers: { AUTH: (_a, s) => s.reply(code, text) } });
    const err = await FtpClient.connect({ host: "127.0.0.1", port: server.port, user: "alice", password: "secret", secure: "explicit", connectTimeoutMs: 3000 })
      .then(() => assert.fail("must not connect"), (e: unknown) => e);
    if (code === 200) assert.ok(err instanceof ProtocolError && /instead of 234.*sends no password/.test(err.message), String(err));
    else assert.ok(err instanceof FtpReplyError && err.code === code, String(err));
    assert.deepEqual(server.commands, ["AUTH TLS"]);
  }
});

test("B6: a self-signed or wrong-host certificate is refused before USER is sent", async (t) => {
  const tmp = await tempDir();
  t.after(() => tmp.remove());
  const cert = await generateSelfSignedCert(tmp.path, ["other.example"]);
  const server = await startFerryServer({ tls: { cert: cert.cert, key: cert.key } });
  t.after(() => server.close());
  const lines: string[] = [];
  const logger = pino({ level: "debug" }, { write: (s: string) => void lines.push(s) });
  const base = { host: "127.0.0.1", port: server.port, user: "user", password: "pass", secure: "explicit" as const, connectTimeoutMs: 5000, logger };
  await assert.rejects(FtpClient.connect(base), /self[- ]signed/i);
  // Trusted, but issued for another host name.
  await assert.rejects(FtpClient.connect({ ...base, tls: { ca: cert.cert } }), /altnames|does not match|Hostname/i);
  assert.ok(lines.some((l) => /"command":"AUTH TLS"/.test(l)), "AUTH TLS was sent");
  assert.ok(!lines.some((l) => /"command":"(USER|PASS)/.test(l)), "no USER or PASS was sent");
});

// ---- B7: malformed replies ---------------------------------------------------------------

/** Write `line` on the control connection until it closes or `maxBytes` went; resolves with the bytes written. */
async function flood(s: { control: Socket }, first: string, line: string, maxBytes: number): Promise<number> {
  let written = 0;
  const c = s.control;
  c.write(first);
  while (!c.destroyed && written < maxBytes) {
    const ok = c.write(line);
    written += line.length;
    if (!ok) await new Promise<void>((r) => { const done = (): void => { c.off("drain", done); c.off("close", done); r(); }; c.on("drain", done); c.on("close", done); });
  }
  return written;
}

test("B7: a 150- never closed, and a 100 MB reply line: the reply buffer stops at 64 KiB, protocol error, connection closed", async (t) => {
  const written: number[] = [];
  const server = await withServer(t, {
    handlers: {
      RETR: async (_a, s) => void written.push(await flood(s, "150-Opening\r\n", "150-more text, never the end\r\n", 100 * 1024 * 1024)),
      PWD: async (_a, s) => void written.push(await flood(s, "257 ", "x".repeat(64 * 1024), 100 * 1024 * 1024)),
    },
  });
  for (const call of [(c: FtpClient) => c.download("f", sink().sink), (c: FtpClient) => c.pwd()]) {
    const client = await connect(t, server);
    const err = await call(client).then(() => assert.fail("must fail"), (e: unknown) => e);
    assert.ok(err instanceof FtpConnectionError && /broke the protocol: reply longer than 65536 bytes/.test(err.message), String(err));
    assert.equal(client.closed, true);
  }
  // The server could only write while the client read: far less than the 100 MB it tried (socket buffers aside).
  for (let i = 0; i < 500 && written.length < 2; i++) await new Promise((r) => setTimeout(r, 10)); // the flooders see the close
  assert.equal(written.length, 2);
  for (const n of written) assert.ok(n < 20 * 1024 * 1024, `${n} bytes written before the client hung up`);
});

test("B7: reply codes 000 and 999 are protocol errors that close the connection (000 is no endless 'preliminary' reply)", async (t) => {
  for (const reply of ["000 hmm\r\n", "999 what\r\n"]) {
    const server = await withServer(t, { handlers: { PWD: (_a, s) => s.write(reply) } });
    const client = await connect(t, server);
    await assert.rejects(client.pwd(), (e: unknown) => e instanceof FtpConnectionError && /not an FTP reply code/.test(e.message));
    assert.equal(client.closed, true);
  }
});

test("B7: a final line with another code, or no CRLF: no reply, so the reply timeout fires; dribbled bytes still make a reply", async (t) => {
  for (const raw of ['257-"/" begins\r\n200 but ends with another code\r\n', '257 "/" without a line end']) {
    const server = await withServer(t, { handlers: { PWD: (_a, s) => s.write(raw) } });
    const client = await connect(t, server, { commandTimeoutMs: 300 });
    await assert.rejects(client.pwd(), FtpTimeoutError);
    assert.equal(client.closed, true);
  }
  const dribble = await withServer(t, {
    handlers: {
      PWD: async (_a, s) => {
        for (const ch of '257 "/dribbled" is the current directory\r\n') {
          s.write(ch);
          await new Promise((r) => setTimeout(r, 5));
        }
      },
    },
  });
  const client = await connect(t, dribble, { commandTimeoutMs: 300 });
  assert.equal(await client.pwd(), "/dribbled");
});

// ---- B10: stalling server ------------------------------------------------------------------

test("B10: no banner, and USER never answered: the connect and reply timeouts fire, nothing hangs", async (t) => {
  const silent = await withServer(t, { greeting: "" });
  const started = Date.now();
  await assert.rejects(connect(t, silent, { connectTimeoutMs: 300 }), (e: unknown) => e instanceof FtpTimeoutError && /greeting within 300 ms/.test(e.message));
  const mute = await withServer(t, { handlers: { USER: () => undefined } });
  await assert.rejects(connect(t, mute, { commandTimeoutMs: 300 }), (e: unknown) => e instanceof FtpTimeoutError && /no reply to USER alice within 300 ms/.test(e.message));
  assert.ok(Date.now() - started < 5000);
});

test("B10: a data trickle counts as progress: 12 bytes at one per 100 ms complete under a 400 ms stall timeout", async (t) => {
  const body = "trickle-data";
  const server = await withServer(t, {
    handlers: {
      RETR: async (_a, s) => {
        s.reply(150, "Opening.");
        const d = await s.data();
        for (const ch of body) {
          d.write(ch);
          await new Promise((r) => setTimeout(r, 100));
        }
        d.end();
        await new Promise((r) => d.once("close", r));
        s.reply(226, "Transfer complete.");
      },
    },
  });
  const client = await connect(t, server, { dataTimeoutMs: 400 });
  const out = sink();
  assert.equal(await client.download("slow", out.sink), body.length);
  assert.equal(out.text(), body);
});

// ---- B12: injection through client input ---------------------------------------------------

test("B12: a user name or password with CR/LF or NUL is refused before connecting; the server sees no command", async (t) => {
  const server = await withServer(t, {});
  for (const extra of [{ user: "alice\r\nDELE x" }, { user: "alice\0" }, { password: "pw\r\nDELE x" }]) {
    await assert.rejects(connect(t, server, extra), (e: unknown) => e instanceof FtpUsageError && /contains CR, LF or NUL/.test(e.message));
  }
  assert.deepEqual(server.commands, []);
});

test("B12: remote paths with CR/LF or NUL are refused before sending, in the client and through the CLI; DELE never arrives", async (t) => {
  const server = await withServer(t, { handlers: { LIST: (_a, s) => sendData(s, "") } });
  const client = await connect(t, server);
  for (const path of ["x\r\nDELE y", "x\0y", "x\nDELE y"]) {
    await assert.rejects(client.remove(path), ProtocolError);
    await assert.rejects(client.list(path), ProtocolError);
    await assert.rejects(client.download(path, sink().sink), ProtocolError);
  }
  await client.noop(); // still usable
  const run = await runFerry(["ls", `ftp://u:p@127.0.0.1:${server.port}/a%0D%0ADELE%20x`], { timeoutMs: 30_000 });
  assert.notEqual(run.code, 0);
  assert.ok(!server.commands.some((c) => /^DELE/i.test(c)), server.commands.join(" | "));
});
