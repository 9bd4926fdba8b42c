import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { startFerryServer, type RunningFerryServer } from "../helpers/ferryServer.js";
import { RawClient } from "./rawClient.js";
import { treeOf } from "./trees.js";

describe("hardening: limits", () => {
  const servers: RunningFerryServer[] = [];
  const clients: RawClient[] = [];
  after(async () => {
    for (const c of clients) c.close();
    for (const s of servers) await s.close();
  });
  const start = async (limits: Parameters<typeof startFerryServer>[0] = {}): Promise<RunningFerryServer> => {
    const s = await startFerryServer(limits);
    servers.push(s);
    return s;
  };
  const connect = async (port: number, localAddress?: string): Promise<{ client: RawClient; code: number | undefined }> => {
    const { client, greeting } = await RawClient.connect(port, localAddress ? { localAddress } : {});
    clients.push(client);
    return { client, code: greeting?.code };
  };

  it("an over-long command line gets 500 and the session is dropped; others go on", async () => {
    const srv = await start({ limits: { maxLineLength: 512 } });
    const other = await RawClient.login(srv.port);
    clients.push(other);
    const { client } = await connect(srv.port);
    assert.equal((await client.send(`NOOP ${"x".repeat(600)}`))?.code, 500);
    await client.waitClosed();
    assert.equal((await other.send("NOOP"))?.code, 200);
    assert.equal(srv.server.sessionCount, 1);
  });

  it("a 1 MB line without a line end is cut off at the cap, not buffered", async () => {
    const srv = await start();
    const { client } = await connect(srv.port);
    client.write(Buffer.alloc(1 << 20, 0x41));
    assert.equal((await client.next())?.code, 500);
    await client.waitClosed();
    const { client: again } = await connect(srv.port);
    assert.equal((await again.send("NOOP"))?.code, 200, "server keeps running");
  });

  it("connections per address beyond the limit get 421", async () => {
    const srv = await start({ limits: { maxConnectionsPerAddress: 2 } });
    assert.equal((await connect(srv.port)).code, 220);
    assert.equal((await connect(srv.port)).code, 220);
    const third = await connect(srv.port);
    assert.equal(third.code, 421);
    await third.client.waitClosed();
    assert.equal((await connect(srv.port, "127.0.0.2")).code, 220, "another address is still welcome");
  });

  it("connections in all beyond the limit get 421", async () => {
    const srv = await start({ limits: { maxConnections: 2 } });
    assert.equal((await connect(srv.port)).code, 220);
    assert.equal((await connect(srv.port, "127.0.0.2")).code, 220);
    assert.equal((await connect(srv.port, "127.0.0.3")).code, 421);
  });

  it("an idle session gets 421 and is closed", async () => {
    const srv = await start({ limits: { idleTimeoutMs: 200 } });
    const { client } = await connect(srv.port);
    const r = await client.next(5000);
    assert.equal(r?.code, 421);
    assert.match(r?.lines[0] ?? "", /Idle timeout/);
    await client.waitClosed();
  });

  it("a data connection that never comes gets 425", async () => {
    const srv = await start({ limits: { dataTimeoutMs: 200 } });
    await writeFile(join(srv.root, "f.txt"), "x");
    const client = await RawClient.login(srv.port);
    clients.push(client);
    await client.pasv();
    assert.equal((await client.send("RETR f.txt"))?.code, 150);
    assert.equal((await client.next(5000))?.code, 425);
    assert.equal((await client.send("NOOP"))?.code, 200);
  });

  it("failed logins are answered 530 after a delay, and the session is dropped after the limit", async () => {
    const srv = await start({ limits: { loginFailureDelayMs: 50, maxLoginFailures: 2 } });
    const { client } = await connect(srv.port);
    assert.equal((await client.send("USER user"))?.code, 331);
    assert.equal((await client.send("PASS wrong"))?.code, 530);
    assert.equal((await client.send("USER nobody"))?.code, 331, "unknown users get the same 331 (RFC 2577)");
    assert.equal((await client.send("PASS wrong"))?.code, 421);
    await client.waitClosed();
    const ok = await RawClient.login(srv.port);
    clients.push(ok);
  });

  it("commands before login get 530", async () => {
    const srv = await start();
    const { client } = await connect(srv.port);
    for (const line of ["LIST", "RETR x", "CWD /", "STOR x", "PASV", "SIZE x"]) {
      assert.equal((await client.send(line))?.code, 530, line);
    }
    assert.equal((await client.send("FEAT"))?.code, 211);
    assert.equal((await client.send("PASS x"))?.code, 503);
  });
});

describe("hardening: read-only users", () => {
  let srv: RunningFerryServer;
  after(async () => srv?.close());

  const writes = [
    "STOR new.txt", "APPE file.txt", "STOU", "DELE file.txt", "RMD dir", "MKD newdir", "RNFR file.txt", "RNTO x.txt",
    "SITE CHMOD 777 file.txt", "MFMT 20000101000000 file.txt", "MDTM 20000101000000 file.txt", "XMKD d2", "XRMD dir",
  ];

  for (const who of ["ro user", "anonymous"] as const) {
    it(`${who} gets 550 on every write command and can still read`, async () => {
      srv ??= await startFerryServer({ users: [{ name: "reader", password: "pw", readOnly: true }], anonymous: "ro" });
      await writeFile(join(srv.root, "file.txt"), "keep");
      await import("node:fs/promises").then((f) => f.mkdir(join(srv.root, "dir"), { recursive: true }));
      const beforeTree = await treeOf(srv.root);
      const client = who === "anonymous" ? await RawClient.login(srv.port, "anonymous", "me@example.com") : await RawClient.login(srv.port, "reader", "pw");
      try {
        for (const line of writes) {
          await client.pasv();
          const r = await client.send(line);
          assert.equal(r?.code, 550, `${who}: ${line} -> ${r?.code} ${r?.lines.join(" ")}`);
        }
        assert.deepEqual(await treeOf(srv.root), beforeTree);
        assert.equal((await client.send("SIZE file.txt"))?.code, 213);
        assert.equal((await client.send("CWD dir"))?.code, 250);
      } finally {
        client.close();
      }
    });
  }
});
