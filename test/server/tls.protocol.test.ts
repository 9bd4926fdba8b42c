import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { writeFile } from "node:fs/promises";
import { connect as tlsConnect } from "node:tls";
import { join } from "node:path";
import { parseEpsvReply } from "../../src/protocol/index.js";
import { startFerryServer, type RunningFerryServer } from "../helpers/ferryServer.js";
import { RawClient, readData } from "./rawClient.js";
import { makeTestCert, readTlsData, requireCert, upgradeRaw, type TestCert } from "./tlsFixture.js";

/** RFC 4217 on the wire: sequencing, policy replies, STARTTLS injection, data session reuse. */
describe("server TLS protocol (RFC 4217)", () => {
  let cert: TestCert | undefined;
  let srv: RunningFerryServer;
  let strict: RunningFerryServer;
  let plain: RunningFerryServer;

  before(async () => {
    cert = await makeTestCert();
    plain = await startFerryServer();
    if (!cert) return;
    srv = await startFerryServer({
      tls: { cert: cert.cert, key: cert.key },
      users: [{ name: "user", password: "pass" }, { name: "secret", password: "pw", requireTlsLogin: true, requireTlsData: true }],
    });
    strict = await startFerryServer({ tls: { cert: cert.cert, key: cert.key, requireLogin: true, requireData: true } });
    await writeFile(join(srv.root, "a.txt"), "hello over tls\n");
    await writeFile(join(strict.root, "a.txt"), "strict\n");
  });
  after(async () => {
    await srv?.close();
    await strict?.close();
    await plain.close();
    await cert?.remove();
  });

  /** Connect, AUTH TLS, upgrade; returns the TLS raw client. */
  async function secured(server: RunningFerryServer, login = true) {
    const { client } = await RawClient.connect(server.port);
    assert.equal((await client.send("AUTH TLS"))?.code, 234);
    const up = await upgradeRaw(client, cert!.cert);
    if (login) {
      assert.equal((await up.raw.send("USER user"))?.code, 331);
      assert.equal((await up.raw.send("PASS pass"))?.code, 230);
    }
    return up;
  }

  it("implicit port: a refused connection (limit) gets its 421 inside TLS", async (t) => {
    if (!requireCert(t, cert)) return;
    const limited = await startFerryServer({ tls: { cert: cert.cert, key: cert.key, implicitPort: 0 }, limits: { maxConnections: 1 } });
    try {
      const pem = cert.cert;
      const open = async () => {
        const s = tlsConnect({ host: "127.0.0.1", port: limited.implicitPort, ca: pem, servername: "localhost" });
        s.setEncoding("utf8");
        await once(s, "secureConnect");
        let text = "";
        for (let i = 0; i < 100 && !text.includes("\r\n"); i++) text += (await once(s, "data"))[0] as string;
        return { s, text };
      };
      const first = await open();
      assert.match(first.text, /^220 /);
      const second = await open();
      assert.match(second.text, /^421 Too many connections/);
      first.s.destroy();
      second.s.destroy();
    } finally {
      await limited.close();
    }
  });

  it("FEAT lists AUTH TLS, PBSZ, PROT only with a certificate; AUTH without one is 502", async (t) => {
    if (!requireCert(t, cert)) return;
    const { client } = await RawClient.connect(srv.port);
    const feat = (await client.send("FEAT"))?.lines.map((l) => l.trim()) ?? [];
    for (const f of ["AUTH TLS", "PBSZ", "PROT"]) assert.ok(feat.includes(f), `FEAT has ${f}`);
    client.close();
    const { client: p } = await RawClient.connect(plain.port);
    const pfeat = (await p.send("FEAT"))?.lines.map((l) => l.trim()) ?? [];
    assert.ok(!pfeat.includes("AUTH TLS"));
    assert.equal((await p.send("AUTH TLS"))?.code, 502);
    p.close();
  });

  it("sequencing: PBSZ/PROT need TLS, PROT needs PBSZ, unknown mechanisms and levels, CCC refused, AUTH twice", async (t) => {
    if (!requireCert(t, cert)) return;
    const { client } = await RawClient.connect(srv.port);
    assert.equal((await client.send("PBSZ 0"))?.code, 503);
    assert.equal((await client.send("PROT P"))?.code, 503);
    assert.equal((await client.send("AUTH KERBEROS_V4"))?.code, 504);
    assert.equal((await client.send("AUTH SSL"))?.code, 234, "AUTH SSL is an alias");
    const { raw } = await upgradeRaw(client, cert.cert);
    assert.equal((await raw.send("PROT P"))?.code, 503, "PROT before PBSZ");
    assert.deepEqual((await raw.send("PBSZ 0"))?.lines, ["PBSZ=0"]);
    assert.equal((await raw.send("PROT S"))?.code, 536);
    assert.equal((await raw.send("PROT X"))?.code, 504);
    assert.equal((await raw.send("PROT P"))?.code, 200);
    const ccc = await raw.send("CCC");
    assert.equal(ccc?.code, 533);
    assert.match(ccc?.lines.join(" ") ?? "", /stays encrypted/);
    assert.equal((await raw.send("AUTH TLS"))?.code, 503);
    assert.equal((await raw.send("USER user"))?.code, 331);
    assert.equal((await raw.send("PASS pass"))?.code, 230);
    assert.equal((await raw.send("NOOP"))?.code, 200);
    raw.close();
  });

  it("STARTTLS injection: plaintext sent after AUTH TLS in the same write is discarded, never executed", async (t) => {
    if (!requireCert(t, cert)) return;
    const { client } = await RawClient.connect(srv.port);
    client.write("AUTH TLS\r\nUSER user\r\nPASS pass\r\nMKD injected\r\n");
    assert.equal((await client.next())?.code, 234);
    const { raw } = await upgradeRaw(client, cert.cert);
    // Had USER/PASS run after the upgrade, this session would be logged in.
    assert.equal((await raw.send("PWD"))?.code, 530);
    assert.equal((await raw.send("PASS pass"))?.code, 503, "no USER pending");
    raw.close();
    // A USER sent in clear before AUTH does not carry over into the TLS session.
    const { client: c2 } = await RawClient.connect(srv.port);
    assert.equal((await c2.send("USER user"))?.code, 331);
    assert.equal((await c2.send("AUTH TLS"))?.code, 234);
    const up2 = await upgradeRaw(c2, cert.cert);
    assert.equal((await up2.raw.send("PASS pass"))?.code, 503);
    up2.raw.close();
    const { stat } = await import("node:fs/promises");
    await assert.rejects(stat(join(srv.root, "injected")));
  });

  it("login policy: requireLogin refuses plain USER with 530; per-user rule too; TLS login works", async (t) => {
    if (!requireCert(t, cert)) return;
    const { client } = await RawClient.connect(strict.port);
    const r = await client.send("USER user");
    assert.equal(r?.code, 530);
    assert.match(r?.lines.join(" ") ?? "", /TLS required/);
    assert.equal((await client.send("PASS pass"))?.code, 503);
    client.close();
    const { client: c2 } = await RawClient.connect(srv.port);
    assert.equal((await c2.send("USER secret"))?.code, 530, "per-user requireTlsLogin");
    assert.equal((await c2.send("USER user"))?.code, 331, "other users may log in plain");
    c2.close();
    const { raw } = await secured(strict);
    raw.close();
  });

  it("data policy: PROT C refused (534) and transfers under PROT C refused (521) when TLS data is required", async (t) => {
    if (!requireCert(t, cert)) return;
    const { raw } = await secured(strict);
    assert.equal((await raw.send("PASV"))?.code, 227);
    const list = await raw.send("LIST");
    assert.equal(list?.code, 521);
    assert.equal((await raw.send("PBSZ 0"))?.code, 200);
    assert.equal((await raw.send("PROT C"))?.code, 534);
    raw.close();
    // Per user: "secret" must use PROT P; "user" may stay in clear on the same server.
    const { client } = await RawClient.connect(srv.port);
    assert.equal((await client.send("AUTH TLS"))?.code, 234);
    const up = await upgradeRaw(client, cert.cert);
    assert.equal((await up.raw.send("USER secret"))?.code, 331);
    assert.equal((await up.raw.send("PASS pw"))?.code, 230);
    assert.equal((await up.raw.send("STOR x.bin"))?.code, 521);
    up.raw.close();
    const { raw: clear } = await secured(srv);
    const port = await clear.pasv();
    const got = readData(port);
    assert.match(String((await clear.send("RETR a.txt"))?.code), /^1(25|50)$/);
    assert.equal((await clear.next())?.code, 226);
    assert.equal((await got).toString(), "hello over tls\n", "PROT C data in clear");
    clear.close();
  });

  it("PROT P data connection: with the control session resumed it flows; a fresh TLS session is refused with 522", async (t) => {
    if (!requireCert(t, cert)) return;
    const { raw, tls } = await secured(srv);
    assert.equal((await raw.send("PBSZ 0"))?.code, 200);
    assert.equal((await raw.send("PROT P"))?.code, 200);
    const session = tls.getSession();
    assert.ok(session, "the control connection has a resumable session (TLS 1.3 ticket)");
    // A data connection without resumption (what a thief racing to the port would make).
    const port1 = parseEpsvReply((await raw.send("EPSV"))?.lines[0] ?? "");
    const stolen = readTlsData(port1, cert.cert).catch(() => Buffer.alloc(0));
    assert.match(String((await raw.send("RETR a.txt"))?.code), /^1(25|50)$/);
    const refusal = await raw.next();
    assert.equal(refusal?.code, 522);
    assert.match(refusal?.lines.join(" ") ?? "", /session reuse required/i);
    assert.equal((await stolen).length, 0, "no file bytes to the non-resuming connection");
    // The same with the control connection's session resumed.
    const port2 = parseEpsvReply((await raw.send("EPSV"))?.lines[0] ?? "");
    const good = readTlsData(port2, cert.cert, session);
    assert.match(String((await raw.send("RETR a.txt"))?.code), /^1(25|50)$/);
    assert.equal((await raw.next())?.code, 226);
    assert.equal((await good).toString(), "hello over tls\n");
    // A ticket from another control session of the same server does not resume here: each
    // session has its own ticket keys, so a client of this server cannot take over another's data.
    const other = await secured(srv);
    const otherSession = other.tls.getSession();
    assert.ok(otherSession);
    const port3 = parseEpsvReply((await raw.send("EPSV"))?.lines[0] ?? "");
    const crossed = readTlsData(port3, cert.cert, otherSession).catch(() => Buffer.alloc(0));
    assert.match(String((await raw.send("RETR a.txt"))?.code), /^1(25|50)$/);
    assert.equal((await raw.next())?.code, 522);
    assert.equal((await crossed).length, 0);
    other.raw.close();
    raw.close();
  });
});
