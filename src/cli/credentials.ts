import { readFileSync, statSync } from "node:fs";
import type { Command } from "commander";
import { homedir } from "node:os";
import { join } from "node:path";
import { parseFtpUrl, redactUrl, type ConnectOptions, type FtpUrl } from "../client/index.js";
import { UsageError } from "./exitCodes.js";
import { isQuiet } from "./verbosity.js";

/** A remote side of a command: where to connect, as whom, and how to show it without secrets. */
export interface RemoteTarget {
  url: FtpUrl;
  /** The URL with the password replaced by "****": safe for messages, logs and state file names. */
  display: string;
  /** Options for FtpClient.connect (holding the password; never print them). */
  connect: ConnectOptions;
  /** Where the password came from, for error hints: "url", "FERRY_PASSWORD", "netrc" or "none". */
  passwordSource: "url" | "FERRY_PASSWORD" | "netrc" | "none";
}

/** One machine entry of a .netrc file. */
export interface NetrcEntry {
  machine?: string; // undefined for "default"
  login?: string;
  password?: string;
  account?: string;
}

/**
 * Parse .netrc text (the ftp(1) format: machine/default, login, password, account; macdef
 * bodies skipped). Tokens may be quoted with "…".
 */
export function parseNetrc(text: string): NetrcEntry[] {
  const entries: NetrcEntry[] = [];
  const lines = text.split(/\r?\n/);
  const tokens: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (/^\s*macdef\b/.test(line)) {
      while (i + 1 < lines.length && lines[i + 1]!.trim() !== "") i++; // a macro body runs to the next empty line
      continue;
    }
    for (const m of line.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)) {
      if (m[2]?.startsWith("#") && tokens.length % 2 === 0) break; // a comment
      tokens.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, "$1") : m[2]!);
    }
  }
  let current: NetrcEntry | undefined;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t === "machine") { current = { machine: tokens[++i] ?? "" }; entries.push(current); }
    else if (t === "default") { current = {}; entries.push(current); }
    else if (current && (t === "login" || t === "password" || t === "account")) current[t] = tokens[++i] ?? "";
  }
  return entries;
}

/** The .netrc entry for a host (and user, when the URL names one); default entries last. */
export function findNetrc(entries: NetrcEntry[], host: string, user?: string): NetrcEntry | undefined {
  const fits = (e: NetrcEntry) => user === undefined || e.login === undefined || e.login === user;
  return entries.find((e) => e.machine?.toLowerCase() === host.toLowerCase() && fits(e)) ?? entries.find((e) => e.machine === undefined && fits(e));
}

function readNetrc(env: NodeJS.ProcessEnv): { path: string; entries: NetrcEntry[] } {
  const path = env.NETRC || join(env.HOME || homedir(), ".netrc");
  try {
    return { path, entries: parseNetrc(readFileSync(path, "utf8")) };
  } catch {
    return { path, entries: [] }; // no .netrc is the normal case
  }
}

/**
 * The one-line warning for a .netrc whose passwords others on this machine can read
 * (group or other permission bits set), as ftp(1) and curl give; undefined when it is private.
 * The file is still used: refusing it would break scripts over a warning.
 */
export function netrcPermissionWarning(path: string): string | undefined {
  let mode: number;
  try {
    mode = statSync(path).mode & 0o777;
  } catch {
    return undefined;
  }
  if ((mode & 0o077) === 0) return undefined;
  return `warning: ${path} is accessible by group or others (mode ${mode.toString(8).padStart(4, "0")}): anyone on this machine may read its passwords; run chmod 600 ${path}`;
}

/** TLS flags of ls/get/put: `--ca FILE` (trust this CA or self-signed certificate) and `--insecure`. */
export interface TlsFlags {
  ca?: string;
  insecure?: boolean;
}

/** Add --ca and --insecure to a command that takes an ftps:// or ftpes:// URL. */
export function addTlsOptions(command: Command): Command {
  return command
    .option("--ca <file>", "PEM file of the CA (or self-signed certificate) to trust for ftps:// and ftpes:// (also FERRY_CA)")
    .option("--insecure", "do not verify the server's TLS certificate (anyone in the path can read and change the session; also FERRY_INSECURE=1)");
}

/**
 * TLS options for the client: verification on by default (system CAs), `ca` to trust a
 * private CA or a self-signed certificate, `insecure` to skip verification with a warning
 * on stderr every time, since it silently defeats what TLS is for.
 */
function tlsOptions(display: string, url: FtpUrl, flags: TlsFlags, env: NodeJS.ProcessEnv): Pick<ConnectOptions, "secure" | "tls"> {
  const ca = flags.ca ?? (env.FERRY_CA || undefined);
  const insecure = flags.insecure ?? (env.FERRY_INSECURE === "1" || env.FERRY_INSECURE === "true");
  if (url.secure === "none") {
    if (flags.ca !== undefined || flags.insecure) throw new UsageError(`${display}: --ca and --insecure apply to ftps:// and ftpes:// URLs only`);
    return {};
  }
  if (ca !== undefined && insecure) throw new UsageError("--ca and --insecure together make no sense: --ca verifies against FILE, --insecure verifies nothing; pick one");
  if (insecure) {
    process.stderr.write(`WARNING: --insecure: the TLS certificate of ${url.host} is NOT verified; anyone on the path can impersonate the server and read the password\n`);
    return { secure: url.secure, tls: { rejectUnauthorized: false } };
  }
  if (ca === undefined) return { secure: url.secure };
  try {
    return { secure: url.secure, tls: { ca: readFileSync(ca) } };
  } catch (err) {
    throw new UsageError(`--ca ${ca}: ${(err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (err as Error).message}`, { cause: err });
  }
}

/** User names that mean an anonymous login (RFC 1635): FERRY_PASSWORD is never sent for them. */
const ANONYMOUS_USERS = new Set(["anonymous", "ftp"]);

/**
 * Resolve a remote URL into connect options. The user comes from the URL, else ~/.netrc (or
 * $NETRC) for the host, else anonymous; the password from the URL, else FERRY_PASSWORD (only
 * for a named, non-anonymous user), else the .netrc entry. ftpes:// is explicit TLS, ftps://
 * implicit TLS (see tlsOptions).
 */
export function resolveRemote(text: string, env: NodeJS.ProcessEnv = process.env, tlsFlags: TlsFlags = {}): RemoteTarget {
  let url: FtpUrl;
  try {
    url = parseFtpUrl(text);
  } catch (err) {
    throw new UsageError((err as Error).message, { cause: err });
  }
  const display = redactUrl(text);
  const tls = tlsOptions(display, url, tlsFlags, env);
  let user = url.user;
  let password = url.password;
  let account: string | undefined;
  let passwordSource: RemoteTarget["passwordSource"] = password !== undefined ? "url" : "none";
  let entry: NetrcEntry | undefined;
  if (password === undefined || user === undefined) {
    const netrc = readNetrc(env);
    entry = findNetrc(netrc.entries, url.host, user);
    if (entry?.password !== undefined && !isQuiet()) {
      const warning = netrcPermissionWarning(netrc.path);
      if (warning) process.stderr.write(`ferry: ${warning}\n`);
    }
    if (entry) {
      user ??= entry.login;
      account = entry.account;
    }
  }
  // FERRY_PASSWORD belongs to a named user (in the URL or the .netrc login): sent to an
  // anonymous login it would hand the secret to any server a URL points at.
  const named = user !== undefined && !ANONYMOUS_USERS.has(user.toLowerCase());
  if (password === undefined && named && env.FERRY_PASSWORD !== undefined && env.FERRY_PASSWORD !== "") {
    password = env.FERRY_PASSWORD;
    passwordSource = "FERRY_PASSWORD";
  }
  if (password === undefined && entry?.password !== undefined) { password = entry.password; passwordSource = "netrc"; }
  const connect: ConnectOptions = {
    host: url.host, port: url.port,
    ...(user !== undefined ? { user } : {}), ...(password !== undefined ? { password } : {}),
    ...(account !== undefined ? { account } : {}), ...tls,
  };
  return { url, display, connect, passwordSource };
}

/** True when a CLI argument names a remote (has a URL scheme) rather than a local path. */
export function isRemoteArg(arg: string): boolean {
  // "ftp:/host" (one slash) counts as remote too, so that resolveRemote refuses it by name
  // instead of mirroring into a local folder called "ftp:".
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(arg) || /^(s?ftp|ftps|ftpes):/i.test(arg);
}
