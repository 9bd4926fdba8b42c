import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:net";
import { once } from "node:events";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { formatEprtArg, formatHostPortNumbers } from "../../src/protocol/index.js";
import { startFerryServer, type RunningFerryServer } from "../helpers/ferryServer.js";
import { RawClient, readData } from "./rawClient.js";

// 127.0.0.2 is loopback too, but not the client's 127.0.0.1: it plays the third party.
describe("hardening: no FTP bounce, no data-connection theft", () => {
  let srv: RunningFerryServer;
  let client: RawClient;
  let victim: Server;
  let victimPort = 0;
  let victimHits = 0;

  before(async () => {
    srv = await startFerryServer();
    await writeFile(join(srv.root, "file.txt"), "payload");
    client = await RawClient.login(srv.port);
    victim = createServer((s) => {
      victimHits++;
      s.destroy();
    });
    victim.listen(0, "127.0.0.2");
    await once(victim, "listening");
    victimPort = (victim.address() as { port: number }).port;
  });
  after(async () => {
    client.close();
    victim.close();
    await srv.close();
  });

  it("PORT to a foreign address is refused with 504", async () => {
    const r = await client.send(`PORT ${formatHostPortNumbers({ host: "127.0.0.2", port: victimPort })}`);
    assert.equal(r?.code, 504);
    assert.equal((await client.send("RETR file.txt"))?.code, 425, "no data channel was prepared");
    assert.equal(victimHits, 0);
  });

  it("EPRT to a foreign address is refused with 504", async () => {
    assert.equal((await client.send(`EPRT ${formatEprtArg({ host: "127.0.0.2", port: victimPort })}`))?.code, 504);
    assert.equal((await client.send(`EPRT ${formatEprtArg({ host: "::1", port: victimPort })}`))?.code, 504);
    assert.equal((await client.send("LIST"))?.code, 425);
    assert.equal(victimHits, 0);
  });

  it("PORT to our own address but a privileged port is refused", async () => {
    assert.equal((await client.send(`PORT ${formatHostPortNumbers({ host: "127.0.0.1", port: 25 })}`))?.code, 504);
    assert.equal((await client.send(`PORT ${formatHostPortNumbers({ host: "127.0.0.1", port: 22 })}`))?.code, 504);
    assert.equal((await client.send(`EPRT ${formatEprtArg({ host: "127.0.0.1", port: 25 })}`))?.code, 504);
    assert.equal((await client.send("RETR file.txt"))?.code, 425, "no data channel was prepared");
  });

  it("malformed PORT/EPRT get 501", async () => {
    assert.equal((await client.send("PORT 1,2,3"))?.code, 501);
    assert.equal((await client.send("EPRT |3|x|1|"))?.code, 501);
  });

  it("a data connection from a foreign address is refused; the client's own still works", async () => {
    const port = await client.pasv();
    const stolen = await readData(port, "127.0.0.2");
    assert.equal(stolen.length, 0, "the foreign peer got nothing");
    const data = readData(port);
    const pre = await client.send("RETR file.txt");
    assert.ok(pre?.code === 125 || pre?.code === 150);
    assert.equal((await data).toString(), "payload");
    assert.equal((await client.next())?.code, 226);
  });

  it("EPSV works on IPv4 and refuses a protocol mismatch", async () => {
    assert.equal((await client.send("EPSV 2"))?.code, 522);
    const r = await client.send("EPSV");
    assert.equal(r?.code, 229);
    assert.match(r?.lines[0] ?? "", /\(\|\|\|\d+\|\)/);
  });
});

describe("IPv6: EPSV and EPRT over ::1", () => {
  let srv: RunningFerryServer | undefined;
  before(async () => {
    try {
      srv = await startFerryServer({ host: "::1" });
    } catch {
      srv = undefined; // no IPv6 loopback on this machine
    }
  });
  after(async () => srv?.close());

  it("lists over EPSV and EPRT with an IPv6 control connection", async (t) => {
    if (!srv) return t.skip("no IPv6 loopback (::1) here");
    await writeFile(join(srv.root, "six.txt"), "v6");
    const { client } = await RawClient.connect(srv.port, { host: "::1" });
    try {
      await client.send("USER user");
      assert.equal((await client.send("PASS pass"))?.code, 230);
      assert.equal((await client.send("PASV"))?.code, 425, "PASV cannot carry IPv6");
      const epsv = await client.send("EPSV");
      const port = Number(/\|\|\|(\d+)\|/.exec(epsv?.lines[0] ?? "")?.[1]);
      const { connect } = await import("node:net");
      const sock = connect({ host: "::1", port });
      const chunks: Buffer[] = [];
      sock.on("data", (c: Buffer) => chunks.push(c));
      const sockClosed = once(sock, "close");
      await once(sock, "connect");
      assert.ok([125, 150].includes((await client.send("RETR six.txt"))?.code ?? 0));
      await sockClosed;
      assert.equal(Buffer.concat(chunks).toString(), "v6");
      assert.equal((await client.next())?.code, 226);
      // EPRT |2|::1|port|: we listen, the server dials us
      const listener = createServer();
      listener.listen(0, "::1");
      await once(listener, "listening");
      const lport = (listener.address() as { port: number }).port;
      const got = new Promise<string>((resolve) => listener.once("connection", (s) => {
        const parts: Buffer[] = [];
        s.on("data", (c: Buffer) => parts.push(c));
        s.on("close", () => resolve(Buffer.concat(parts).toString()));
      }));
      assert.equal((await client.send(`EPRT |2|::1|${lport}|`))?.code, 200);
      assert.equal((await client.send("RETR six.txt"))?.code, 150);
      assert.equal(await got, "v6");
      assert.equal((await client.next())?.code, 226);
      listener.close();
    } finally {
      client.close();
    }
  });
});
