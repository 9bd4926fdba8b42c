import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { chmod, chown, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { findPeer, inCI } from "./peers.js";

/** A real FTP server started for a test, on 127.0.0.1. */
export interface PeerFtpServer {
  readonly name: "vsftpd" | "pure-ftpd";
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  /** The login directory on the local disk (server-side view of the files). */
  readonly home: string;
  /** The path the server reports for the login directory (PWD). */
  readonly loginDir: string;
  readonly pid: number;
  stop(): Promise<void>;
}

/** A free TCP port on 127.0.0.1 (bound, then released). */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", () => resolve()));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

/** Wait until host:port accepts connections (bounded), or the process exits. */
export async function waitForPort(port: number, child: ChildProcess, log: () => string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode} before listening: ${log()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host: "127.0.0.1", port });
      s.once("connect", () => (s.destroy(), resolve(true)));
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`server did not listen on 127.0.0.1:${port} within 5 s: ${log()}`);
}

/** Stop a process by PID: SIGTERM, then SIGKILL after 3 s. */
export async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
  await exited;
  clearTimeout(timer);
}

/** A throwaway local user with a bash shell (PAM's pam_shells) and a fresh home under a 755 temp dir. */
export interface LocalUser {
  readonly name: string;
  readonly password: string;
  readonly base: string;
  readonly home: string;
  remove(): Promise<void>;
}

/** Create a throwaway local user (root only); its home's parents are 755 (vsftpd refuses otherwise). */
export async function createLocalUser(prefix: string): Promise<LocalUser> {
  const base = await mkdtemp(join(tmpdir(), `ferry-${prefix}-`));
  await chmod(base, 0o755);
  const home = join(base, "home");
  await mkdir(home);
  const name = `${prefix}${randomBytes(4).toString("hex")}`;
  const password = randomBytes(12).toString("hex");
  execFileSync("useradd", ["-M", "-N", "-g", "nogroup", "-c", "ferry-test", "-d", home, "-s", "/bin/bash", name]);
  execFileSync("chpasswd", { input: `${name}:${password}\n` });
  const uid = Number(execFileSync("id", ["-u", name], { encoding: "utf8" }).trim());
  const gid = Number(execFileSync("id", ["-g", name], { encoding: "utf8" }).trim());
  await chown(home, uid, gid);
  return {
    name, password, base, home,
    remove: async () => {
      // vsftpd and pure-ftpd run each session as this user; those processes (children of the
      // server we started) may outlive the listener briefly, and userdel refuses while they run.
      for (let i = 0; i < 40; i++) {
        for (const pid of pidsOf(uid)) {
          try {
            process.kill(pid, i < 10 ? "SIGTERM" : "SIGKILL");
          } catch {
            // gone already
          }
        }
        try {
          execFileSync("userdel", [name], { stdio: "ignore" });
          break;
        } catch {
          if (!userExists(name)) break;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      await rm(base, { recursive: true, force: true });
    },
  };
}

/** PIDs of processes whose real uid is `uid` (from /proc, so procps is not needed). */
function pidsOf(uid: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const status = readFileSync(`/proc/${entry}/status`, "utf8");
      if (new RegExp(`^Uid:\\s+${uid}\\s`, "m").test(status)) pids.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

function userExists(user: string): boolean {
  try {
    execFileSync("id", [user], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/**
 * Skip (or, under CI=true, fail loudly) unless the server binary exists and we are root
 * (a throwaway local user is needed). Returns the binary.
 */
export function requireServer(t: TestContext, name: string, install: string, candidates: string[]): string | undefined {
  const bin = findPeer(name, candidates);
  const problem = !bin
    ? `peer "${name}" not found: install it (${install}); .ci/run does this on CI`
    : process.getuid?.() !== 0
      ? `${name} interop tests need root (they create a throwaway local user)`
      : undefined;
  if (!problem) return bin;
  if (inCI) throw new Error(problem);
  t.skip(problem);
  return undefined;
}

/** A self-signed certificate for 127.0.0.1/localhost (openssl CLI), for TLS interop tests. */
export interface TestCert {
  readonly certFile: string;
  readonly keyFile: string;
  /** The certificate in PEM, for the client's `ca`. */
  readonly pem: string;
}

/** Make a throwaway self-signed RSA certificate in `dir` (valid two days). */
export async function makeTestCert(dir: string): Promise<TestCert> {
  const certFile = join(dir, "cert.pem");
  const keyFile = join(dir, "key.pem");
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", keyFile, "-out", certFile, "-days", "2",
    "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
  ], { stdio: "ignore" });
  return { certFile, keyFile, pem: readFileSync(certFile, "utf8") };
}

/** How vsftpd should speak TLS: not at all (default), AUTH TLS, or from the first byte. */
export type PeerTls = "none" | "explicit" | "implicit";

/**
 * Start vsftpd on 127.0.0.1 with its own config (listen=YES, background=NO so the PID is
 * the server's, seccomp_sandbox=NO, pasv_address=127.0.0.1) and a throwaway local user.
 */
export async function startVsftpd(bin: string, tls: PeerTls = "none"): Promise<PeerFtpServer & { cert?: TestCert }> {
  const user = await createLocalUser("fv");
  const cert = tls === "none" ? undefined : await makeTestCert(user.base);
  // vsftpd 3.0.3 defaults to ssl_ciphers=DES-CBC3-SHA, which OpenSSL 3 no longer offers;
  // require_ssl_reuse stays on (its default) so the client's session reuse is exercised.
  const tlsLines = cert ? [
    "ssl_enable=YES", `rsa_cert_file=${cert.certFile}`, `rsa_private_key_file=${cert.keyFile}`, "ssl_ciphers=HIGH",
    "force_local_logins_ssl=YES", "force_local_data_ssl=YES", ...(tls === "implicit" ? ["implicit_ssl=YES"] : []),
  ] : [];
  const empty = join(user.base, "empty");
  await mkdir(empty);
  await chmod(empty, 0o755);
  const port = await freePort();
  const conf = join(user.base, "vsftpd.conf");
  await writeFile(conf, [
    "listen=YES", "listen_ipv6=NO", "listen_address=127.0.0.1", `listen_port=${port}`, "background=NO",
    "anonymous_enable=NO", "local_enable=YES", "write_enable=YES", "local_umask=022", "chroot_local_user=NO",
    "pasv_enable=YES", "pasv_address=127.0.0.1", "connect_from_port_20=NO", `secure_chroot_dir=${empty}`,
    "pam_service_name=vsftpd", "seccomp_sandbox=NO", "max_clients=0", "max_per_ip=0", "xferlog_enable=NO",
    "idle_session_timeout=120", "data_connection_timeout=120", ...tlsLines, "",
  ].join("\n"));
  const { pid, stop } = await spawnPeer(bin, [conf], port, user);
  return {
    name: "vsftpd", host: "127.0.0.1", port, user: user.name, password: user.password, home: user.home,
    loginDir: user.home, pid, ...(cert ? { cert } : {}), stop,
  };
}

/**
 * Spawn a peer FTP server in the foreground and wait until it listens on `port`; its stop()
 * ends the process and removes `user`. A server that does not come up is stopped and its
 * output (first 300 characters) is in the error.
 */
export async function spawnPeer(bin: string, args: string[], port: number, user: LocalUser): Promise<{ pid: number; stop: () => Promise<void> }> {
  let out = "";
  const child = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
  const stop = async (): Promise<void> => {
    await stopProcess(child);
    await user.remove();
  };
  try {
    await waitForPort(port, child, () => out.slice(0, 300));
  } catch (err) {
    await stop();
    throw err;
  }
  return { pid: child.pid ?? 0, stop };
}

/** Where scripts/install-peers.sh and apt put vsftpd. */
export const VSFTPD_CANDIDATES = ["/usr/sbin/vsftpd"];
