import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { connect, type Socket } from "node:net";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { startFerryServer, type RunningFerryServer } from "../helpers/ferryServer.js";
import { pseudoRandomBytes } from "../helpers/tmp.js";
import { RawClient } from "../server/rawClient.js";
import { makeTestCert, upgradeRaw, type TestCert } from "../server/tlsFixture.js";
import { fdCount, waitFor } from "./faultHelpers.js";

// A18, I14: an RST (SO_LINGER {1,0}: Node's resetAndDestroy) at every state of a session.
// The server runs in this process: an unhandled 'error' would fail the test run, and
// /proc/self/fd shows its descriptors (the test's own sockets are all gone at each check).
describe("A18 / I14: RST at every state; the server survives and descriptors return to baseline", () => {
  let srv: RunningFerryServer;
  let cert: TestCert | undefined;
  let base = 0;

  before(async () => {
    cert = await makeTestCert();
    if (!cert && process.env.CI === "true") assert.fail("openssl is needed for the TLS cases (apt-get install -y openssl)");
    srv = await startFerryServer(cert ? { tls: { cert: cert.cert, key: cert.key } } : {});
    await writeFile(join(srv.root, "f.bin"), pseudoRandomBytes(1 << 20, 3));
    await mkdir(join(srv.root, "many"));
    // ~270 KB of LIST output: more than the socket buffers hold while the client does not read.
    for (let i = 0; i < 3000; i += 100) {
      await Promise.all(Array.from({ length: 100 }, (_, j) => writeFile(join(srv.root, "many", `entry-${String(i + j).padStart(5, "0")}-${"x".repeat(40)}`), "")));
    }
    base = fdCount();
  });
  after(async () => {
    await srv?.close();
    await cert?.remove();
  });

  /** After each case: no session left, descriptors back to baseline, and a new login still works. */
  async function backToBaseline(): Promise<void> {
    await waitFor("no session left", () => srv.server.sessionCount === 0, 5000);
    await waitFor(`descriptors back to ${base}`, () => fdCount() <= base, 5000);
    const c = await RawClient.login(srv.port);
    assert.equal((await c.send("NOOP"))?.code, 200);
    c.socket.resetAndDestroy();
    await waitFor("probe session gone", () => srv.server.sessionCount === 0 && fdCount() <= base, 5000);
  }

  function dataSocket(port: number): Socket {
    const s = connect({ host: "127.0.0.1", port });
    s.on("error", () => undefined);
    return s;
  }

  it("RST right after the banner", async () => {
    const { client, greeting } = await RawClient.connect(srv.port);
    assert.equal(greeting?.code, 220);
    client.socket.resetAndDestroy();
    await backToBaseline();
  });

  it("RST before the banner is even read (pyftpdlib test_quick_connect)", async () => {
    for (let i = 0; i < 20; i++) {
      const s = connect({ host: "127.0.0.1", port: srv.port });
      s.on("error", () => undefined);
      await once(s, "connect");
      s.resetAndDestroy();
    }
    await backToBaseline();
  });

  it("RST after USER", async () => {
    const { client } = await RawClient.connect(srv.port);
    assert.equal((await client.send("USER user"))?.code, 331);
    client.socket.resetAndDestroy();
    await backToBaseline();
  });

  it("RST in the middle of the control connection's TLS handshake", async (t) => {
    if (!cert) return t.skip("no openssl");
    const { client } = await RawClient.connect(srv.port);
    assert.equal((await client.send("AUTH TLS"))?.code, 234);
    // The start of a ClientHello record, never finished.
    client.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]));
    await new Promise((r) => setTimeout(r, 50));
    client.socket.resetAndDestroy();
    await backToBaseline();
  });

  it("RST in the middle of a PROT P data connection's TLS handshake; 522 then names no OpenSSL internals", async (t) => {
    if (!cert) return t.skip("no openssl");
    const { client } = await RawClient.connect(srv.port);
    assert.equal((await client.send("AUTH TLS"))?.code, 234);
    const { raw } = await upgradeRaw(client, cert.cert);
    assert.equal((await raw.send("USER user"))?.code, 331);
    assert.equal((await raw.send("PASS pass"))?.code, 230);
    assert.equal((await raw.send("PBSZ 0"))?.code, 200);
    assert.equal((await raw.send("PROT P"))?.code, 200);
    // (a) a data connection that sends half a ClientHello and resets.
    let port = await raw.pasv();
    let data = dataSocket(port);
    await once(data, "connect");
    assert.equal((await raw.send("LIST"))?.code, 125);
    data.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]));
    await new Promise((r) => setTimeout(r, 50));
    data.resetAndDestroy();
    const r1 = await raw.next();
    assert.equal(r1?.code, 522, r1?.lines.join(" "));
    // (b) a data connection that speaks something other than TLS: OpenSSL's own error
    // ("error:0A00010B:SSL routines::wrong version number") must not reach the client.
    port = await raw.pasv();
    data = dataSocket(port);
    await once(data, "connect");
    assert.equal((await raw.send("LIST"))?.code, 125);
    data.write("GET / HTTP/1.0\r\n\r\n");
    const r2 = await raw.next();
    assert.equal(r2?.code, 522);
    const text = r2?.lines.join(" ") ?? "";
    assert.doesNotMatch(text, /error:|SSL routines|wrong version|ssl3_|0A0/i, `522 reply: ${text}`);
    assert.match(text, /TLS handshake on the data connection failed/);
    data.destroy();
    // The session goes on.
    assert.equal((await raw.send("NOOP"))?.code, 200);
    (raw.socket as Socket).destroy();
    client.socket.resetAndDestroy();
    await backToBaseline();
  });

  it("RST of the data connection mid-LIST: 426, the session goes on; RST of the control connection mid-LIST", async () => {
    const client = await RawClient.login(srv.port);
    let port = await client.pasv();
    let data = dataSocket(port);
    data.pause();
    await once(data, "connect");
    assert.ok([125, 150].includes((await client.send("LIST many"))?.code ?? 0));
    data.resume();
    await once(data, "data");
    data.resetAndDestroy();
    assert.equal((await client.next())?.code, 426);
    assert.equal((await client.send("NOOP"))?.code, 200);
    port = await client.pasv();
    data = dataSocket(port);
    data.pause(); // the listing fills the buffers and waits
    await once(data, "connect");
    assert.ok([125, 150].includes((await client.send("LIST many"))?.code ?? 0));
    client.socket.resetAndDestroy();
    data.resetAndDestroy();
    await backToBaseline();
  });

  it("RST of the data connection mid-STOR: 426; RST of the control connection mid-STOR", async () => {
    const client = await RawClient.login(srv.port);
    let port = await client.pasv();
    let data = dataSocket(port);
    await once(data, "connect");
    assert.ok([125, 150].includes((await client.send("STOR up.bin"))?.code ?? 0));
    data.write(pseudoRandomBytes(256 * 1024, 5));
    await new Promise((r) => setTimeout(r, 50));
    data.resetAndDestroy();
    assert.equal((await client.next())?.code, 426);
    assert.equal((await client.send("NOOP"))?.code, 200);
    port = await client.pasv();
    data = dataSocket(port);
    await once(data, "connect");
    assert.ok([125, 150].includes((await client.send("STOR up2.bin"))?.code ?? 0));
    data.write(pseudoRandomBytes(256 * 1024, 6));
    await new Promise((r) => setTimeout(r, 50));
    client.socket.resetAndDestroy();
    data.resetAndDestroy();
    await backToBaseline();
  });

  it("RST right after 226", async () => {
    const client = await RawClient.login(srv.port);
    const port = await client.pasv();
    const data = dataSocket(port);
    const closed = new Promise((r) => data.once("close", r));
    data.resume();
    await once(data, "connect");
    assert.ok([125, 150].includes((await client.send("RETR f.bin"))?.code ?? 0));
    await closed;
    assert.equal((await client.next())?.code, 226);
    client.socket.resetAndDestroy();
    await backToBaseline();
  });

  it("RST after several PASV: no passive listener is left behind", async () => {
    const client = await RawClient.login(srv.port);
    for (let i = 0; i < 5; i++) await client.pasv();
    client.socket.resetAndDestroy();
    await backToBaseline();
  });
});
