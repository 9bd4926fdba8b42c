import { createLocalUser, freePort, makeTestCert, spawnPeer, type PeerFtpServer, type TestCert } from "./vsftpd.js";

/**
 * Where pure-ftpd is looked for: $PUREFTPD_BIN, the unpacked .deb of scripts/install-peers.sh
 * (the Debian package conflicts with vsftpd, so it is unpacked, not installed), then PATH.
 */
export const PUREFTPD_CANDIDATES = [
  ...(process.env.PUREFTPD_BIN ? [process.env.PUREFTPD_BIN] : []),
  "/opt/ferry-peers/pure-ftpd/usr/sbin/pure-ftpd",
  "/usr/sbin/pure-ftpd",
];

/**
 * Start pure-ftpd in the foreground on 127.0.0.1 with Unix authentication of a throwaway
 * local user, chrooted to its home (-A), dotfiles shown (-D), passive IP forced to 127.0.0.1.
 * With tls "explicit", AUTH TLS is required for login and PROT P for every data connection
 * (-Y 3: "-Y 2" would still allow cleartext data channels); `cert` is its self-signed certificate.
 */
export async function startPureFtpd(bin: string, tls: "none" | "explicit" = "none"): Promise<PeerFtpServer & { cert?: TestCert }> {
  const user = await createLocalUser("fp");
  const cert = tls === "none" ? undefined : await makeTestCert(user.base);
  const port = await freePort();
  const { pid, stop } = await spawnPeer(bin, [
    "-S", `127.0.0.1,${port}`, // bind address,port
    "-l", "unix", // /etc/passwd + shadow
    "-E", // no anonymous logins
    "-H", // don't resolve host names
    "-A", // chroot everyone
    "-D", // list dotfiles
    "-u", "1", // lowest uid allowed
    "-P", "127.0.0.1", // address in PASV replies
    "-I", "15", // idle timeout, minutes
    ...(cert ? ["-Y", "3", "-2", `${cert.certFile},${cert.keyFile}`] : []),
  ], port, user);
  return {
    name: "pure-ftpd", host: "127.0.0.1", port, user: user.name, password: user.password, home: user.home,
    loginDir: "/", pid, ...(cert ? { cert } : {}), stop,
  };
}
