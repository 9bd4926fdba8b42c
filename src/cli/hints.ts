import { causeChain } from "../protocol/index.js";
import { FtpTimeoutError } from "../client/index.js";

/** The errno-style code (ECONNREFUSED, ENOTFOUND…) anywhere in an error's cause chain. */
export function errnoOf(err: unknown): string | undefined {
  for (const e of causeChain(err)) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && /^E[A-Z]+$/.test(code)) return code;
  }
  return undefined;
}

function isTimeout(err: unknown): boolean {
  for (const e of causeChain(err)) if (e instanceof FtpTimeoutError) return true;
  return errnoOf(err) === "ETIMEDOUT";
}

/**
 * What a person can check when a connection to host:port failed, as curl and lftp users
 * expect next to the raw errno; undefined when there is nothing useful to say.
 */
export function connectionHint(err: unknown, where: { host: string; port: number }): string | undefined {
  const at = `${where.host}:${where.port}`;
  switch (errnoOf(err)) {
    case "ECONNREFUSED":
      return `nothing accepts connections on ${at}: is the FTP server running, and is the port right (FTP's default is 21, ftps:// 990)?`;
    case "ENOTFOUND":
      return `the host name ${where.host} is not known: is it spelled right?`;
    case "EAI_AGAIN":
      return `the host name ${where.host} could not be looked up now: is DNS reachable from here?`;
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return `no route to ${where.host}: is the network up, and is the address right?`;
    case "ECONNRESET":
      return `${at} closed the connection at once: is it an FTP server (and not, say, ftps:// where ftp:// was meant)?`;
  }
  if (isTimeout(err)) return `no answer from ${at}: is the host up, is the port right, or does a firewall drop the packets?`;
  return undefined;
}

/** Why `ferry serve` cannot listen, with the fix (ports below 1024, a port in use). */
export function listenHint(err: unknown, port: number): string | undefined {
  const code = errnoOf(err);
  if (code === "EACCES" && port > 0 && port < 1024) {
    return `ports below 1024 need root or the CAP_NET_BIND_SERVICE capability ` +
      `(setcap cap_net_bind_service=+ep on the node binary, or AmbientCapabilities=CAP_NET_BIND_SERVICE in a systemd unit), ` +
      `or use a port of 1024 or above such as 2121`;
  }
  if (code === "EADDRINUSE") return `another process listens on port ${port} (see ss -ltnp): stop it or pick another --port`;
  if (code === "EADDRNOTAVAIL") return "that address is not one of this machine's: check --host";
  return undefined;
}
