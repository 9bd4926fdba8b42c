import { connect as netConnect, isIPv6 } from "node:net";
import type { ConnectionOptions } from "node:tls";
import { silentLogger, type Logger } from "../log/index.js";
import { FtpReplyError, ProtocolError, type Reply } from "../protocol/index.js";
import { ControlChannel, replyMessage } from "./ControlChannel.js";
import { FtpConnectionError, FtpTimeoutError, FtpUsageError, abortError, translateSessionError } from "./errors.js";
import { emptyCapabilities, parseFeatures, type Capabilities } from "./features.js";
import { isReplyError } from "./queries.js";
import { startTls, tlsStateFor, type TlsState } from "./tls.js";

// Opening a session: TCP (or implicit TLS), greeting, AUTH TLS + PBSZ/PROT, login, FEAT,
// OPTS UTF8, TYPE I. FtpClient.connect wraps the result.

/** How to reach and log in to a server. */
export interface ConnectOptions {
  /** Host name or IP address (IPv4 or IPv6). */
  host: string;
  /** Control port; default 21. */
  port?: number;
  /** User name; default "anonymous". */
  user?: string;
  /** Password; default "anonymous@" for the anonymous user, else "". Never logged. */
  password?: string;
  /** Sent with ACCT when the server asks for an account (332). */
  account?: string;
  /** Time to connect and receive the greeting, in ms; default 15000. */
  connectTimeoutMs?: number;
  /** Time to wait for a reply, in ms; default 30000. */
  commandTimeoutMs?: number;
  /** Time a data connection may stall, in ms; default 30000. */
  dataTimeoutMs?: number;
  /** Passive data connections (EPSV, then PASV); default true. false: active (EPRT, then PORT). */
  passive?: boolean;
  /** Logger for commands and replies (debug level); default silent. */
  logger?: Logger;
  /** Aborts connecting; once connected, aborting closes the connection. */
  signal?: AbortSignal;
  /** Largest directory listing accepted, in bytes; default 256 MiB (a hostile server cannot exhaust memory). */
  maxListingBytes?: number;
  /**
   * TLS (RFC 4217): "none" (default), "explicit" (AUTH TLS on the plain port, ftpes://) or
   * "implicit" (TLS from the first byte, ftps://, default port 990). Data connections are
   * protected too (PROT P) and resume the control connection's TLS session.
   */
  secure?: "none" | "explicit" | "implicit";
  /**
   * Pipeline commands where a caller asks for it (FtpClient.pipeline) and the server passes
   * the probe; default true. false: always one command at a time, as lftp's ftp:sync-mode.
   */
  pipelining?: boolean;
  /** How long a pipelined command queued behind another may go unanswered, in ms, before the server is switched to lockstep; default 5000. */
  pipelineStallMs?: number;
  /** Extra TLS options (ca, rejectUnauthorized, minVersion ...); certificates are verified by default. */
  tls?: ConnectionOptions;
}

/** A logged-in control connection and what was learned on the way. */
export interface Session {
  readonly control: ControlChannel;
  readonly features: Capabilities;
  readonly logger: Logger;
  readonly tls: TlsState | undefined;
}

/** Connect, read the greeting, secure the connection when asked, log in, discover features, TYPE I. */
export async function openSession(options: ConnectOptions): Promise<Session> {
  const secure = options.secure ?? "none";
  const port = options.port ?? (secure === "implicit" ? 990 : 21);
  const peer = isIPv6(options.host) ? `[${options.host}]:${port}` : `${options.host}:${port}`;
  const logger = (options.logger ?? silentLogger()).child({ peer });
  const connectTimeoutMs = options.connectTimeoutMs ?? 15_000;
  const channelOptions = { logger, timeoutMs: options.commandTimeoutMs ?? 30_000, peer };
  const { signal } = options;
  // FAULTS B12, I6: credentials from a config file or URL that would inject a second command
  // are refused before any connection is made (formatCommand refuses them too, but later).
  for (const [what, value] of [["user name", options.user], ["password", options.password], ["account", options.account]] as const) {
    if (value !== undefined && /[\r\n\0]/.test(value)) {
      throw new FtpUsageError(`the ${what} contains CR, LF or NUL; refusing to send it (it could inject FTP commands) - fix the ${what}`);
    }
  }
  if (signal?.aborted) throw abortError(signal, `connect to ${peer}`);
  const tls = secure === "none" ? undefined : tlsStateFor(options.host, options.tls);
  const socket = tls && secure === "implicit" ? startTls(tls, undefined, port) : netConnect({ host: options.host, port });
  let control = new ControlChannel(socket, channelOptions);
  const onAbort = (): void => control.closeWithError(abortError(signal, `connect to ${peer}`));
  signal?.addEventListener("abort", onAbort, { once: true });
  const timer = setTimeout(() => control.closeWithError(
    new FtpTimeoutError(`${peer}: no connection and greeting within ${connectTimeoutMs} ms`)), connectTimeoutMs);
  let greeted = false;
  try {
    await control.handle<Reply>(undefined, undefined, (reply, task) => {
      if (reply.code < 200) return; // 120: "service ready in nnn minutes"
      if (reply.code < 300) task.resolve(reply);
      else task.reject(new FtpReplyError(reply.code, replyMessage(reply), "greeting"));
    });
    greeted = true;
    if (tls && secure === "explicit") {
      // RFC 4217 section 4: AUTH TLS, then the TLS handshake on the same connection.
      // Only 234 starts TLS (RFC 4217 section 4; 2228): a "200 OK" from a server that did not
      // understand is no promise of TLS, and going on would send the password in clear (I9).
      const auth = await control.request("AUTH", "TLS");
      if (auth.code !== 234) {
        throw new ProtocolError(`${peer} answered AUTH TLS with ${auth.code} ${replyMessage(auth)} instead of 234; ` +
          "TLS was asked for, so ferry stops here and sends no password - check that the server offers explicit FTPS (AUTH TLS)");
      }
      control = new ControlChannel(startTls(tls, control.detach(), port), channelOptions);
    }
    if (tls) {
      // RFC 4217 sections 8-9: protect the data connections too, before any password is sent.
      await control.request("PBSZ", "0");
      await control.request("PROT", "P");
    }
    clearTimeout(timer);
    await login(control, options);
    const features = await discoverFeatures(control);
    if (features.utf8) await control.request("OPTS", "UTF8 ON").catch((err: unknown) => {
      if (!isReplyError(err)) throw err;
    });
    await control.request("TYPE", "I");
    return { control, features, logger, tls };
  } catch (err) {
    control.closeWithError(err instanceof Error ? err : new FtpConnectionError(String(err)));
    // Translated once, here: callers test the class (isUnreachable, isLoginRefused), not codes.
    throw translateSessionError(err, greeted);
  } finally {
    clearTimeout(timer);
    // Once connected, the signal closes the connection (documented on ConnectOptions).
    if (control.closed) signal?.removeEventListener("abort", onAbort);
  }
}

async function login(control: ControlChannel, options: ConnectOptions): Promise<void> {
  const user = options.user ?? "anonymous";
  let reply = await control.request("USER", user);
  if (reply.code === 331) {
    const password = options.password ?? (user === "anonymous" ? "anonymous@" : "");
    reply = await control.request("PASS", password);
  }
  if (reply.code === 332) {
    if (options.account === undefined) {
      throw new FtpReplyError(332, "the server asks for an account: pass the account option", "PASS ****");
    }
    reply = await control.request("ACCT", options.account);
  }
  if (reply.code !== 230 && reply.code !== 202) {
    throw new FtpReplyError(reply.code, `login not completed: ${replyMessage(reply)}`, "USER");
  }
}

async function discoverFeatures(control: ControlChannel): Promise<Capabilities> {
  try {
    return parseFeatures(await control.request("FEAT"));
  } catch (err) {
    if (isReplyError(err)) return emptyCapabilities(); // RFC 2389 is optional: assume nothing
    throw err;
  }
}
