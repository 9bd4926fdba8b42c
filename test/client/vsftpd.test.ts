import { requireServer, startVsftpd, VSFTPD_CANDIDATES } from "../helpers/vsftpd.js";
import { runClientConformance } from "./conformance.js";

// vsftpd quirks: no MLSD/MLST, no MFMT (times are set with the two-argument MDTM), no HASH,
// LIST hides dotfiles unless "-a", PWD is the absolute home (no chroot here).
runClientConformance("vsftpd", async (t) => {
  const bin = requireServer(t, "vsftpd", "apt-get install -y vsftpd", VSFTPD_CANDIDATES);
  if (!bin) return undefined;
  const server = await startVsftpd(bin);
  return { ...server, quirks: { mlst: false, setTime: "MDTM", hash: false, dotfiles: true } };
});
