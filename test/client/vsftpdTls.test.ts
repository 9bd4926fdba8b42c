import { test } from "node:test";
import assert from "node:assert/strict";
import { FtpClient, FtpConnectionError } from "../../src/client/index.js";
import { requireServer, startVsftpd, VSFTPD_CANDIDATES } from "../helpers/vsftpd.js";
import { runClientConformance } from "./conformance.js";

// The whole conformance suite over TLS (RFC 4217) against vsftpd: explicit (AUTH TLS, ftpes://)
// and implicit (ftps://). vsftpd's require_ssl_reuse is on, so data connections must resume
// the control connection's TLS session; its certificate is verified against a test CA.
for (const mode of ["explicit", "implicit"] as const) {
  runClientConformance(`vsftpd ${mode} TLS`, async (t) => {
    const bin = requireServer(t, "vsftpd", "apt-get install -y vsftpd", VSFTPD_CANDIDATES);
    if (!bin) return undefined;
    const server = await startVsftpd(bin, mode);
    return {
      ...server,
      connect: { secure: mode, tls: { ca: server.cert?.pem ?? "" } },
      quirks: { mlst: false, setTime: "MDTM", hash: false, dotfiles: true },
    };
  });
}

test("TLS: an untrusted certificate is refused before the password is sent", async (t) => {
  const bin = requireServer(t, "vsftpd", "apt-get install -y vsftpd", VSFTPD_CANDIDATES);
  if (!bin) return;
  const server = await startVsftpd(bin, "explicit");
  t.after(() => server.stop());
  const err = await FtpClient.connect({ host: server.host, port: server.port, user: server.user, password: server.password, secure: "explicit" })
    .then(() => assert.fail("must refuse a self-signed certificate"), (e: unknown) => e);
  assert.ok(err instanceof FtpConnectionError, String(err));
  assert.match(err.message, /self[- ]signed/i);
  assert.ok(!err.message.includes(server.password));
});
