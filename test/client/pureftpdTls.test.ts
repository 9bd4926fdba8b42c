import { test } from "node:test";
import assert from "node:assert/strict";
import { FtpClient, FtpReplyError } from "../../src/client/index.js";
import { PUREFTPD_CANDIDATES, startPureFtpd } from "../helpers/pureftpd.js";
import { requireServer } from "../helpers/vsftpd.js";
import { runClientConformance } from "./conformance.js";

const INSTALL = "sudo scripts/install-peers.sh (unpacks the .deb into /opt/ferry-peers)";

// The whole conformance suite over explicit TLS (AUTH TLS, ftpes://) against pure-ftpd -Y 3:
// TLS required for login and PROT P for every data connection (PROT C transfers get 521).
// Unlike vsftpd (require_ssl_reuse), pure-ftpd 1.0.50 does NOT require the data connection to
// resume the control connection's TLS session: `curl --no-sessionid --ssl-reqd` transfers fine.
// ferry's client offers the session anyway, so this run checks that resumption is harmless.
runClientConformance("pure-ftpd explicit TLS", async (t) => {
  const bin = requireServer(t, "pure-ftpd", INSTALL, PUREFTPD_CANDIDATES);
  if (!bin) return undefined;
  const server = await startPureFtpd(bin, "explicit");
  return {
    ...server,
    connect: { secure: "explicit", tls: { ca: server.cert?.pem ?? "" } },
    quirks: { mlst: true, setTime: "MFMT", hash: false, dotfiles: true },
  };
});

test("pure-ftpd -Y 3 refuses a cleartext login with a 421 FtpReplyError, password unsent", async (t) => {
  const bin = requireServer(t, "pure-ftpd", INSTALL, PUREFTPD_CANDIDATES);
  if (!bin) return;
  const server = await startPureFtpd(bin, "explicit");
  t.after(() => server.stop());
  const err = await FtpClient.connect({ host: server.host, port: server.port, user: server.user, password: server.password, connectTimeoutMs: 5000 })
    .then((c) => (c.close(), assert.fail("a cleartext login must be refused")), (e: unknown) => e);
  assert.ok(err instanceof FtpReplyError, String(err));
  // pure-ftpd answers USER (before PASS) with "421 Sorry, cleartext sessions and weak ciphers are not accepted".
  assert.equal(err.code, 421);
  assert.match(err.command, /^USER /);
  assert.match(err.message, /cleartext sessions .*not accepted/i);
  assert.ok(!err.message.includes(server.password));
});
