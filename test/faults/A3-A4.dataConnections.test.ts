import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { connect, type Socket } from "node:net";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { startFerryServer, type RunningFerryServer } from "../helpers/ferryServer.js";
import { RawClient } from "../server/rawClient.js";

// test/server/hardening.network.test.ts already covers PORT/EPRT to foreign hosts and
// privileged ports, "PORT 1,2,3", "EPRT |3|x|1|" and a foreign RETR thief; these add the rest.
describe("A3: malformed PORT/EPRT/EPSV get 501/522, and the state machine stays sane", () => {
  let srv: RunningFerryServer;
  let client: RawClient;
  before(async () => {
    srv = await startFerryServer();
    await writeFile(join(srv.root, "f.txt"), "payload");
    client = await RawClient.login(srv.port);
  });
  after(async () => {
    client?.close();
    await srv?.close();
  });

  const malformed = [
    "PORT 127,0,0,256,4,1", // octet above 255
    "PORT 127,0,0,1,256,1", // port byte above 255 (port above 65535)
    "PORT 127,0,0,1,4,256",
    "PORT 127,0,0,-1,4,1", // negative
    "PORT 127,0,0,1,-4,1",
    "PORT 127,0,0,1,4,1,7", // 7 fields
    "PORT 127,0,0,1,4", // 5 fields
    "PORT 127.0.0.1,4,1",
    "PORT a,b,c,d,e,f",
    "PORT 127,0,0,1,4,1e1",
    "PORT " + "9".repeat(400),
    "EPRT |2|127.0.0.1|5000|", // family mismatch
    "EPRT |1|::1|5000|",
    "EPRT |1|127.0.0.1|70000|", // port above 65535
    "EPRT |1|127.0.0.1|-1|",
    "EPRT |1|127.0.0.1|0x50|",
    "EPRT |1|127.0.0.1|",
    "EPRT 127.0.0.1:5000",
    "EPRT |1|127.0.0.256|5000|",
  ];
  for (const line of malformed) {
    it(`${line.slice(0, 40)} -> 501 (no data channel prepared)`, async () => {
      const r = await client.send(line);
      assert.equal(r?.code, 501, `${line}: ${r?.code} ${r?.lines.join(" ")}`);
      assert.equal((await client.send("RETR f.txt"))?.code, 425, "nothing was prepared");
    });
  }

  for (const line of ["EPSV 3", "EPSV 2", "EPSV x", "EPSV -1"]) {
    it(`${line} on an IPv4 connection -> 522 naming the supported protocol`, async () => {
      const r = await client.send(line);
      assert.equal(r?.code, 522, `${line}: ${r?.code} ${r?.lines.join(" ")}`);
      assert.match(r?.lines.join(" ") ?? "", /\(1\)/);
    });
  }

  it("after EPSV ALL, PORT, EPRT and PASV are refused (503) and EPSV still works", async () => {
    const c = await RawClient.login(srv.port);
    try {
      assert.equal((await c.send("EPSV ALL"))?.code, 200);
      assert.equal((await c.send("PORT 127,0,0,1,200,1"))?.code, 503);
      assert.equal((await c.send("EPRT |1|127.0.0.1|51201|"))?.code, 503);
      assert.equal((await c.send("PASV"))?.code, 503);
      assert.equal((await c.send("RETR f.txt"))?.code, 425, "no data channel came out of the refused commands");
      const r = await c.send("EPSV");
      assert.equal(r?.code, 229);
      const port = Number(/\|\|\|(\d+)\|/.exec(r?.lines[0] ?? "")?.[1]);
      const data = connect({ host: "127.0.0.1", port });
      data.on("error", () => undefined);
      const chunks: Buffer[] = [];
      data.on("data", (d: Buffer) => chunks.push(d));
      const closed = once(data, "close");
      assert.ok([125, 150].includes((await c.send("RETR f.txt"))?.code ?? 0));
      await closed;
      assert.equal(Buffer.concat(chunks).toString(), "payload");
      assert.equal((await c.next())?.code, 226);
    } finally {
      c.close();
    }
  });

  it("the server is still up and the session usable after all of it", async () => {
    assert.equal((await client.send("NOOP"))?.code, 200);
    assert.ok(!client.closed);
  });
});

describe("A4: PASV data theft during STOR", () => {
  let srv: RunningFerryServer;
  before(async () => {
    srv = await startFerryServer();
  });
  after(async () => srv?.close());

  /** A thief from 127.0.0.2: connects to `port`, sends `payload`, and records what it receives. */
  async function thief(port: number, payload: string): Promise<{ received: Buffer; closed: Promise<unknown> }> {
    const s: Socket = connect({ host: "127.0.0.1", port, localAddress: "127.0.0.2" });
    s.on("error", () => undefined);
    const received: Buffer[] = [];
    s.on("data", (d: Buffer) => received.push(d));
    const closed = new Promise((resolve) => s.once("close", resolve));
    // Refused outright (the listener already closed) is as good as closed without a byte.
    if (await once(s, "connect").then(() => true, () => false)) s.write(payload);
    return { get received() { return Buffer.concat(received); }, closed };
  }

  it("a foreign socket connecting first is closed without a byte; its STOR bytes never reach the file", async () => {
    const client = await RawClient.login(srv.port);
    try {
      const port = await client.pasv();
      const t = await thief(port, "EVIL".repeat(1000));
      await t.closed;
      assert.equal(t.received.length, 0, "the thief got nothing");
      const data = connect({ host: "127.0.0.1", port });
      data.on("error", () => undefined);
      await once(data, "connect");
      const pre = await client.send("STOR target.bin");
      assert.ok(pre?.code === 125 || pre?.code === 150, `${pre?.code}`);
      // A second thief while the real transfer runs: refused as well (the listener is closed).
      const late = await thief(port, "LATE");
      data.end("GOOD");
      assert.equal((await client.next())?.code, 226);
      await late.closed;
      assert.equal(late.received.length, 0);
      assert.equal(await readFile(join(srv.root, "target.bin"), "utf8"), "GOOD");
    } finally {
      client.close();
    }
  });

  it("when only the thief connects, the STOR fails cleanly with 425 and creates no file with its bytes", async () => {
    // A server with a 300 ms data timeout, so the wait for the real client ends quickly.
    const quick = await startFerryServer({ root: srv.root, limits: { dataTimeoutMs: 300 } });
    const client = await RawClient.login(quick.port);
    try {
      const port = await client.pasv();
      const t = await thief(port, "EVIL");
      await t.closed;
      assert.equal(t.received.length, 0);
      assert.equal((await client.send("STOR stolen.bin"))?.code, 150);
      assert.equal((await client.next(5000))?.code, 425);
      const content = await readFile(join(srv.root, "stolen.bin"), "utf8").catch(() => "");
      assert.ok(!content.includes("EVIL"), "the thief's bytes are not in the file");
      assert.equal((await client.send("NOOP"))?.code, 200);
    } finally {
      client.close();
      await quick.server.close(0);
    }
  });
});
