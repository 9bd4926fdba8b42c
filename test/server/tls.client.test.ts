import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { FtpClient, type ConnectOptions } from "../../src/client/index.js";
import { startFerryServer, type RunningFerryServer } from "../helpers/ferryServer.js";
import { pseudoRandomBytes } from "../helpers/tmp.js";
import { makeTestCert, requireCert, type TestCert } from "./tlsFixture.js";

describe("ferry's client against ferry's server over TLS", () => {
  let cert: TestCert | undefined;
  let srv: RunningFerryServer;
  const file = pseudoRandomBytes(3_000_000, 11);

  before(async () => {
    cert = await makeTestCert();
    if (!cert) return;
    srv = await startFerryServer({ tls: { cert: cert.cert, key: cert.key, implicitPort: 0, requireLogin: true, requireData: true } });
    await writeFile(join(srv.root, "file.bin"), file);
  });
  after(async () => {
    await srv?.close();
    await cert?.remove();
  });

  const base = (secure: "explicit" | "implicit"): ConnectOptions => ({
    host: "127.0.0.1", port: secure === "implicit" ? srv.implicitPort : srv.port, user: "user", password: "pass", secure,
    tls: { ca: cert!.cert },
  });

  for (const secure of ["explicit", "implicit"] as const) {
    it(`${secure}: list, download, upload with session reuse required; bytes equal`, async (t) => {
      if (!requireCert(t, cert)) return;
      const c = await FtpClient.connect(base(secure));
      try {
        const names = (await c.list("/")).map((e) => e.name);
        assert.ok(names.includes("file.bin"));
        const chunks: Buffer[] = [];
        const { Writable } = await import("node:stream");
        await c.download("/file.bin", new Writable({ write: (ch: Buffer, _e, cb) => { chunks.push(ch); cb(); } }));
        assert.deepEqual(Buffer.concat(chunks), file);
        const up = pseudoRandomBytes(2_500_000, secure === "explicit" ? 12 : 13);
        await c.uploadBuffer(up, `/up-${secure}.bin`);
        assert.deepEqual(await readFile(join(srv.root, `up-${secure}.bin`)), up);
        await c.uploadBuffer(Buffer.alloc(0), `/empty-${secure}.bin`);
        assert.equal((await readFile(join(srv.root, `empty-${secure}.bin`))).length, 0);
      } finally {
        await c.quit();
      }
    });
  }

  it("active mode (EPRT/PORT) under PROT P: the server dials and is still the TLS server (RFC 4217 section 10)", async (t) => {
    if (!requireCert(t, cert)) return;
    const c = await FtpClient.connect({ ...base("explicit"), passive: false });
    try {
      const up = pseudoRandomBytes(600_000, 14);
      await c.uploadBuffer(up, "/active.bin");
      assert.deepEqual(await readFile(join(srv.root, "active.bin")), up);
      assert.ok((await c.list("/")).some((e) => e.name === "active.bin"));
    } finally {
      await c.quit();
    }
  });

  it("refuses the self-signed certificate without the CA option, succeeds with it", async (t) => {
    if (!requireCert(t, cert)) return;
    const { tls: _tls, ...noCa } = base("explicit");
    await assert.rejects(FtpClient.connect(noCa), /self[- ]signed|certificate/i);
    await assert.rejects(FtpClient.connect({ ...base("implicit"), tls: {} }), /self[- ]signed|certificate/i);
    const ok = await FtpClient.connect({ ...noCa, tls: { rejectUnauthorized: false } });
    await ok.quit();
  });

  it("plain login is refused by a server requiring TLS (530)", async (t) => {
    if (!requireCert(t, cert)) return;
    await assert.rejects(FtpClient.connect({ ...base("explicit"), secure: "none" }), (err: Error & { code?: number }) => {
      assert.equal(err.code, 530);
      assert.match(err.message, /TLS required/);
      return true;
    });
  });
});
