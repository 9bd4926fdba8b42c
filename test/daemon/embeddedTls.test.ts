import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { Readable, Writable } from "node:stream";
import { serverSchema } from "../../src/config/index.js";
import { startEmbeddedServer, type EmbeddedServer } from "../../src/daemon/server.js";
import { FtpClient } from "../../src/client/index.js";
import { silentLogger } from "../../src/log/index.js";
import { hashPassword } from "../../src/server/index.js";
import { makeTestCert, requireCert, type TestCert } from "../server/tlsFixture.js";
import { pseudoRandomBytes, tempDir } from "../helpers/tmp.js";

// The daemon's `server:` section takes the same tls block as `ferry serve --config`.
describe("daemon: embedded server with server.tls", () => {
  let cert: TestCert | undefined;
  let root: Awaited<ReturnType<typeof tempDir>>;
  let server: EmbeddedServer | undefined;
  before(async () => {
    cert = await makeTestCert();
    root = await tempDir();
  });
  after(async () => {
    await server?.close(0);
    await cert?.remove();
    await root.remove();
  });

  it("requires TLS for login when told, and moves bytes over PROT P with session reuse", async (t) => {
    if (!requireCert(t, cert)) return;
    const cfg = serverSchema.parse({
      listen: "127.0.0.1:0",
      root: root.path,
      users: [{ name: "edge", passwordHash: await hashPassword("pw", { N: 1024, r: 8, p: 1 }) }],
      tls: { cert: cert.certPath, key: cert.keyPath, requireLogin: true, requireData: true },
    });
    server = await startEmbeddedServer(cfg, silentLogger());

    await assert.rejects(FtpClient.connect({ host: "127.0.0.1", port: server.port, user: "edge", password: "pw" }),
      (e: unknown) => (e as { code?: number }).code === 530, "a plain login is refused with 530");

    const client = await FtpClient.connect({
      host: "127.0.0.1", port: server.port, user: "edge", password: "pw", secure: "explicit", tls: { ca: cert.cert, servername: "localhost" },
    });
    try {
      const data = pseudoRandomBytes(200_000, 5);
      await client.upload(Readable.from([data]), "tls.bin");
      const chunks: Buffer[] = [];
      await client.download("tls.bin", new Writable({ write(c: Buffer, _e, done) { chunks.push(c); done(); } }));
      assert.deepEqual(Buffer.concat(chunks), data);
    } finally {
      client.close();
    }
  });

  it("names the unreadable certificate file", async () => {
    const cfg = serverSchema.parse({ listen: "127.0.0.1:0", root: root.path, anonymous: "ro", tls: { cert: "/nonexistent/cert.pem", key: "/nonexistent/key.pem" } });
    await assert.rejects(startEmbeddedServer(cfg, silentLogger()), /server\.tls\.cert: cannot read \/nonexistent\/cert\.pem \(ENOENT\)/);
  });
});
