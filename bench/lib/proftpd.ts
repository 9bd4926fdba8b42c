// A private ProFTPD for benchmarks (root): Debian's proftpd packages conflict with vsftpd, so
// scripts/install-peers.sh unpacks proftpd-core into /opt/ferry-peers/proftpd (as it does
// pure-ftpd) and it runs from there in the foreground (-n) with a minimal config in a temp
// folder: a throwaway local user, Unix passwords (no PAM service file needed), no
// scoreboard or delay table in system paths, dotfiles listed, times in UTC.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { findPeer } from "../../test/helpers/peers.js";
import { createLocalUser, freePort, spawnPeer, type PeerFtpServer } from "../../test/helpers/vsftpd.js";

const PREFIX = process.env.PROFTPD_PREFIX ?? "/opt/ferry-peers/proftpd";

/** The proftpd binary: $PROFTPD_BIN, the unpacked package, then PATH. */
export function findProftpd(): string | undefined {
  return findPeer("proftpd", [...(process.env.PROFTPD_BIN ? [process.env.PROFTPD_BIN] : []), join(PREFIX, "usr/sbin/proftpd")]);
}

/** Start proftpd on 127.0.0.1 with a throwaway local user (its home is the login folder). */
export async function startProftpd(bin: string): Promise<Omit<PeerFtpServer, "name"> & { name: "proftpd" }> {
  const user = await createLocalUser("pr");
  const port = await freePort();
  const conf = join(user.base, "proftpd.conf");
  await writeFile(conf, [
    'ServerName "ferry bench"', "ServerType standalone", "DefaultServer on", `Port ${port}`,
    "DefaultAddress 127.0.0.1", "SocketBindTight on", "UseIPv6 off", "User nobody", "Group nogroup",
    // The packaged binary looks for its shared modules (and conf) under /usr; none is loaded here.
    `ModulePath ${join(PREFIX, "usr/lib/proftpd")}`,
    `PidFile ${join(user.base, "proftpd.pid")}`, `ScoreboardFile ${join(user.base, "proftpd.scoreboard")}`,
    `DelayTable ${join(user.base, "proftpd.delay")}`, `SystemLog ${join(user.base, "proftpd.log")}`,
    "TransferLog NONE", "WtmpLog off", "UseReverseDNS off", "AuthPAM off", "AuthOrder mod_auth_unix.c",
    "RequireValidShell off", "MaxInstances none", "MaxClients none", "MaxClientsPerHost none",
    "Umask 022", "AllowOverwrite on", 'ListOptions "-a"', "TimesGMT on", "DefaultRoot ~", "TimeoutIdle 120", "",
  ].join("\n"));
  const { pid, stop } = await spawnPeer(bin, ["-n", "-q", "-c", conf], port, user);
  return { name: "proftpd", host: "127.0.0.1", port, user: user.name, password: user.password, home: user.home, loginDir: "/", pid, stop };
}
