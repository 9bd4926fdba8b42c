import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { connect } from "node:net";
import { access, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { startFerryServer, type RunningFerryServer } from "../helpers/ferryServer.js";
import { tempDir } from "../helpers/tmp.js";
import { RawClient } from "../server/rawClient.js";
import { startServerChild, type ServerChild } from "./faultHelpers.js";

const exists = (p: string): Promise<boolean> => access(p).then(() => true, () => false);

// A9 (NUL), A10 (CR, LF, Telnet IAC), I6. Line-end policy (src/server/decodeLine.ts): a line
// ends at LF; CRLF and a bare LF are both accepted; a CR anywhere else gets 501.
describe("A9 / A10 / I6: NUL, CR and Telnet IAC inside command lines", () => {
  let srv: RunningFerryServer;
  let canary: string;
  before(async () => {
    srv = await startFerryServer();
    canary = join(srv.root, "canary");
    await writeFile(canary, "alive");
  });
  after(async () => srv?.close());

  it("USER with a CR or a NUL inside gets 501 (issue 12: they were accepted)", async () => {
    const { client } = await RawClient.connect(srv.port);
    try {
      for (const raw of ["USER us\rer\r\n", "USER \0\r\n", "USER us\0er\r\n", "PASS pa\0ss\r\n"]) {
        client.write(raw);
        const r = await client.next();
        assert.equal(r?.code, 501, JSON.stringify(raw));
        assert.match(r?.lines.join(" ") ?? "", /(CR|NUL) character/);
      }
      assert.equal((await client.send("NOOP"))?.code, 200, "the session goes on");
    } finally {
      client.close();
    }
  });

  it("CR or NUL in a path argument gets 501 and nothing is created, deleted or renamed", async () => {
    const client = await RawClient.login(srv.port);
    try {
      const before = (await readdir(srv.root)).sort();
      for (const raw of ["MKD a\rb\r\n", "RETR a\0b\r\n", "DELE canary\rx\r\n", "NOOP x\rDELE canary\r\n", "RNFR canary\0\r\n", "STOR x\ry\r\n"]) {
        client.write(raw);
        assert.equal((await client.next())?.code, 501, JSON.stringify(raw));
      }
      assert.deepEqual((await readdir(srv.root)).sort(), before);
      assert.ok(await exists(canary));
      assert.equal((await client.send("NOOP"))?.code, 200, "the process and the session stay up");
    } finally {
      client.close();
    }
  });

  it("a bare LF ends a line (documented policy), so LF-only clients work", async () => {
    const { client } = await RawClient.connect(srv.port);
    try {
      client.write("NOOP\n");
      assert.equal((await client.next())?.code, 200);
      client.write("USER user\nPASS pass\n");
      assert.equal((await client.next())?.code, 331);
      assert.equal((await client.next())?.code, 230);
    } finally {
      client.close();
    }
  });

  it("Telnet IP + Synch before ABOR (\\xFF\\xF4\\xFF\\xF2ABOR) is understood as ABOR", async () => {
    const client = await RawClient.login(srv.port);
    try {
      client.write(Buffer.from([0xff, 0xf4, 0xff, 0xf2, ...Buffer.from("ABOR\r\n")]));
      assert.equal((await client.next())?.code, 225, "ABOR with no transfer");
      // DM sent as TCP urgent data is missing from the stream: IAC IP IAC then ABOR.
      client.write(Buffer.from([0xff, 0xf4, 0xff, ...Buffer.from("ABOR\r\n")]));
      assert.equal((await client.next())?.code, 225);
    } finally {
      client.close();
    }
  });

  it("IAC sequences are parsed with bounds: at a chunk end, at the line end, option negotiation cut short", async () => {
    const client = await RawClient.login(srv.port);
    try {
      // An IAC ending one TCP chunk, its command byte starting the next.
      client.write(Buffer.from([0x4e, 0x4f, 0xff]));
      await new Promise((r) => setImmediate(r));
      client.write(Buffer.from([0xf1, 0x4f, 0x50, 0x0d, 0x0a]));
      assert.equal((await client.next())?.code, 200, "NO IAC|NOP OP -> NOOP");
      // An unterminated IAC and a WILL without its option at the end of the line.
      client.write(Buffer.from([...Buffer.from("NOOP"), 0xff, 0x0d, 0x0a]));
      assert.equal((await client.next())?.code, 200);
      client.write(Buffer.from([...Buffer.from("NOOP"), 0xff, 0xfb, 0x0d, 0x0a]));
      assert.equal((await client.next())?.code, 200, "IAC WILL takes the CR as its option byte; the line still ends at LF");
      // A line of nothing but IAC bytes.
      client.write(Buffer.from([0xff, 0x0d, 0x0a]));
      assert.equal((await client.next())?.code, 500);
      // IAC inside an argument cannot hide a second command: the whole line is one command.
      client.write(Buffer.from([...Buffer.from("NOOP "), 0xff, 0xf4, ...Buffer.from("DELE canary\r\n")]));
      assert.equal((await client.next())?.code, 200);
      assert.ok(await exists(canary), "the canary survives");
      assert.equal((await client.send("NOOP"))?.code, 200);
    } finally {
      client.close();
    }
  });
});

// A11, I7: an over-long line gets 500 and the session is closed; its tail is never parsed.
describe("A11 / I7: over-long command lines", () => {
  let root: Awaited<ReturnType<typeof tempDir>>;
  let child: ServerChild;
  before(async () => {
    root = await tempDir("ferry-a11-");
    await writeFile(join(root.path, "canary"), "alive");
    // A 1 MiB young generation: garbage is collected early, so the peak RSS shows what is held.
    child = await startServerChild(root.path, {}, ["--max-semi-space-size=1"]);
  });
  after(async () => {
    await child?.stop();
    await root?.remove();
  });

  it("4096 x 'A' then DELE canary on the same line: 500, close, and the canary survives (CVE-2008-4247)", async () => {
    const client = await RawClient.login(child.port);
    client.write("A".repeat(4096) + "DELE canary\r\n");
    const r = await client.next();
    assert.equal(r?.code, 500);
    assert.match(r?.lines.join(" ") ?? "", /too long/);
    await client.waitClosed();
    assert.ok(await exists(join(root.path, "canary")), "the tail was not run as a command");
    const again = await RawClient.login(child.port);
    assert.equal((await again.send("NOOP"))?.code, 200);
    again.close();
  });

  it("5 MB without a line end: 500 and close; the server's peak RSS grows by less than 1 MB", async (t) => {
    const before = await child.stats();
    const socket = connect({ host: "127.0.0.1", port: child.port });
    socket.on("error", () => undefined);
    await once(socket, "connect");
    let replies = "";
    socket.setEncoding("utf8");
    socket.on("data", (d: string) => (replies += d));
    const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
    const chunk = Buffer.alloc(64 * 1024, 0x41);
    // Write 5 MB (80 chunks) as fast as the socket takes it; stop once the server has closed.
    for (let i = 0; i < 80 && !socket.destroyed; i++) {
      // A write error (EPIPE once the server is gone) just ends the loop.
      if (!socket.write(chunk)) await Promise.race([once(socket, "drain").catch(() => undefined), closed.catch(() => undefined)]);
    }
    await Promise.race([closed, new Promise((_, reject) => setTimeout(() => reject(new Error("server did not close")), 10_000).unref())]);
    assert.match(replies, /^220 [^]*\r\n500 /, "500 after the greeting");
    let afterStats = await child.stats();
    for (let i = 0; i < 100 && afterStats.sessions > 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
      afterStats = await child.stats();
    }
    assert.ok(child.alive);
    const growthKb = afterStats.hwmKb - before.hwmKb;
    t.diagnostic(`5 MB without LF: server peak RSS +${growthKb} KiB (VmHWM ${afterStats.hwmKb} KiB)`);
    assert.ok(growthKb < 1024, `peak RSS grew by ${growthKb} KiB (before ${before.hwmKb}, after ${afterStats.hwmKb})`);
    assert.equal(afterStats.sessions, 0);
  });
});
