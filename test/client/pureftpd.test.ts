import { PUREFTPD_CANDIDATES, startPureFtpd } from "../helpers/pureftpd.js";
import { requireServer } from "../helpers/vsftpd.js";
import { runClientConformance } from "./conformance.js";

// pure-ftpd quirks: MLSD/MLST and MFMT offered, MLST facts lines without the leading space,
// FEAT lines without the leading space, no HASH, chrooted login directory "/".
runClientConformance("pure-ftpd", async (t) => {
  const bin = requireServer(t, "pure-ftpd", "sudo scripts/install-peers.sh (unpacks the .deb into /opt/ferry-peers)", PUREFTPD_CANDIDATES);
  if (!bin) return undefined;
  const server = await startPureFtpd(bin);
  return { ...server, quirks: { mlst: true, setTime: "MFMT", hash: false, dotfiles: true } };
});
