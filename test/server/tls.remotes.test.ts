import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { FtpClient } from "../../src/client/index.js";
import { remoteSchema } from "../../src/config/index.js";
import { remoteEndpoint } from "../../src/daemon/index.js";
import { startFerryServer, type RunningFerryServer } from "../helpers/ferryServer.js";
import { makeTestCert, requireCert, type TestCert } from "./tlsFixture.js";

/** The daemon's remotes (config → endpoint → client) over ftpes:// and ftps:// against ferry's TLS server. */
describe("daemon remotes over TLS", () => {
  let cert: TestCert | undefined;
  let srv: RunningFerryServer;
  before(async () => {
    cert = await makeTestCert();
    if (cert) srv = await startFerryServer({ tls: { cert: cert.cert, key: cert.key, implicitPort: 0, requireLogin: true, requireData: true } });
  });
  after(async () => {
    await srv?.close();
    await cert?.remove();
  });

  for (const scheme of ["ftpes", "ftps"] as const) {
    it(`${scheme}:// with ca connects and lists; without ca the certificate is refused; insecure connects`, async (t) => {
      if (!requireCert(t, cert)) return;
      const url = srv.url(undefined, scheme);
      const withCa = remoteEndpoint("r", remoteSchema.parse({ url, ca: cert.certPath }));
      assert.equal(withCa.connect.secure, scheme === "ftpes" ? "explicit" : "implicit");
      const c = await FtpClient.connect(withCa.connect);
      assert.deepEqual(await c.list("/"), []);
      await c.quit();
      await assert.rejects(FtpClient.connect(remoteEndpoint("r", remoteSchema.parse({ url })).connect), /self[- ]signed|certificate/i);
      const insecure = await FtpClient.connect(remoteEndpoint("r", remoteSchema.parse({ url, insecure: true })).connect);
      await insecure.quit();
    });
  }

  it("an unreadable ca file is a clear error naming the remote", (t) => {
    if (!requireCert(t, cert)) return;
    assert.throws(() => remoteEndpoint("backup", remoteSchema.parse({ url: srv.url(undefined, "ftpes"), ca: "/nonexistent/ca.pem" })), /remotes\.backup\.ca: cannot read \/nonexistent\/ca\.pem/);
  });
});
