import { causeChain, FtpReplyError } from "../protocol/index.js";
import { saysTooManyConnections } from "./connectionLimit.js";

// Every failure the client reports is one of these classes (or an FtpReplyError from
// protocol/, or an AbortError); the predicates below are the one place that reads them, so
// callers (sync, daemon, CLI) never compare reply codes or errno strings themselves
// (STYLE guideline 2).

/** The control or data connection failed: refused, reset, closed by the peer, or broken protocol. */
export class FtpConnectionError extends Error {
  // `string`, not the literal: FtpUnreachableError names itself.
  override readonly name: string = "FtpConnectionError";
}

/**
 * The server could not be reached at all: the connection was refused, there is no route, or
 * the name does not resolve. Nothing was said to the server; it may be down or the address wrong.
 */
export class FtpUnreachableError extends FtpConnectionError {
  override readonly name = "FtpUnreachableError";
}

/**
 * The server refused the login (530 "not logged in", 430 "invalid user name or password") to
 * the greeting, USER, PASS or ACCT. Retrying with the same credentials cannot help and locks
 * accounts on many servers (FAULTS C6, I15). A 530 saying "too many connections" (proftpd's
 * MaxClients) is a busy server, not this.
 */
export class FtpLoginError extends FtpReplyError {
  override readonly name = "FtpLoginError";
}

/** The peer said nothing for longer than the configured timeout. */
export class FtpTimeoutError extends Error {
  override readonly name = "FtpTimeoutError";
}

/**
 * A programming error in the caller, such as a second command on a connection while one is
 * still running (STYLE guideline 1). Never retried.
 */
export class FtpUsageError extends Error {
  override readonly name = "FtpUsageError";
}

// 421: service closing; 425: can't open data connection; 426: transfer aborted;
// 450/451/452: file busy, local error, insufficient storage (RFC 959 section 4.2).
const RETRIABLE_REPLIES = new Set([421, 425, 426, 450, 451, 452]);
/** Socket codes that say nothing reached the server (connect failed, no route, no DNS answer). */
const UNREACHABLE_SOCKET_CODES = new Set(["ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EAI_AGAIN"]);
const RETRIABLE_SOCKET_CODES = new Set([
  "ECONNRESET", "ECONNREFUSED", "ECONNABORTED", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN",
]);
/** Replies that say "command not understood / not implemented" (RFC 959 section 4.2): try another way. */
const NOT_UNDERSTOOD_REPLIES = new Set([500, 501, 502, 504]);

/** The socket error code of an error, when it has one. */
function socketCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/**
 * Whether repeating the operation later, on a fresh connection, may succeed: transient 4xx
 * replies, resets and timeouts yes; 5xx replies, protocol violations, usage errors and
 * aborts no. The one place that decides (STYLE guideline 2).
 */
export function isRetriable(err: unknown): boolean {
  if (err instanceof FtpReplyError) return RETRIABLE_REPLIES.has(err.code) || err.isTransient;
  if (err instanceof FtpTimeoutError || err instanceof FtpConnectionError) return true;
  if (err instanceof FtpUsageError) return false;
  if (err instanceof Error && err.name === "AbortError") return false;
  const code = socketCode(err);
  return code !== undefined && RETRIABLE_SOCKET_CODES.has(code);
}

/**
 * Whether an error broke the connection it happened on, so a pool must discard it rather
 * than reuse it: transport failures, and 421 (the server is closing the session). Looks at
 * this error only; isConnectionLost looks down the cause chain.
 */
export function isConnectionFatal(err: unknown): boolean {
  if (err instanceof FtpReplyError) return err.code === 421;
  if (err instanceof FtpTimeoutError || err instanceof FtpConnectionError) return true;
  const code = socketCode(err);
  return code !== undefined && (RETRIABLE_SOCKET_CODES.has(code) || UNREACHABLE_SOCKET_CODES.has(code));
}

/**
 * Whether an error (or one of its causes) says the server could not be reached or kept: the
 * connection failed, was lost, timed out or was closed with 421; rather than one file failing.
 */
export function isConnectionLost(err: unknown): boolean {
  for (const e of causeChain(err)) if (isConnectionFatal(e)) return true;
  return false;
}

/**
 * Whether an error (or one of its causes) says the server could not be reached at all:
 * FtpUnreachableError, or a raw refused / no route / no DNS answer from a socket.
 */
export function isUnreachable(err: unknown): boolean {
  for (const e of causeChain(err)) {
    if (e instanceof FtpUnreachableError) return true;
    const code = socketCode(e);
    if (code !== undefined && UNREACHABLE_SOCKET_CODES.has(code)) return true;
  }
  return false;
}

/**
 * Whether the server refused the login: an FtpLoginError, or a bare 530/430 reply (from a
 * caller's own request) that does not say "too many connections", anywhere in the cause chain.
 */
export function isLoginRefused(err: unknown): boolean {
  for (const e of causeChain(err)) {
    if (e instanceof FtpLoginError) return true;
    if (e instanceof FtpReplyError && (e.code === 530 || e.code === 430) && !saysTooManyConnections(e.message)) return true;
  }
  return false;
}

/** Whether a reply says there is no such file or folder (550 "not found / no access", 450 "file unavailable"). */
export function isNotFound(err: unknown): err is FtpReplyError {
  return err instanceof FtpReplyError && (err.code === 550 || err.code === 450);
}

/** Whether a reply says the command was not understood or is not implemented (500, 501, 502, 504, and any `also`). */
export function isNotUnderstood(err: unknown, ...also: number[]): err is FtpReplyError {
  return err instanceof FtpReplyError && (NOT_UNDERSTOOD_REPLIES.has(err.code) || also.includes(err.code));
}

/**
 * The typed form of an error raised while opening a session: a connect that never reached the
 * server becomes FtpUnreachableError, a refused login FtpLoginError (same message, the
 * original as cause); anything else is returned as it is.
 */
export function translateSessionError(err: unknown, greeted: boolean): unknown {
  if (err instanceof FtpUnreachableError || err instanceof FtpLoginError) return err;
  if (!greeted && err instanceof FtpConnectionError && isUnreachable(err)) return new FtpUnreachableError(err.message, { cause: err });
  if (err instanceof FtpReplyError && (err.code === 530 || err.code === 430) && !saysTooManyConnections(err.message)
    && /^(greeting|USER|PASS|ACCT)\b/.test(err.command)) {
    return new FtpLoginError(err.code, err.text, err.command, { cause: err });
  }
  return err;
}

/** The error an aborted operation rejects with: the signal's reason, or a DOMException "AbortError". */
export function abortError(signal: AbortSignal | undefined, what: string): Error {
  const reason: unknown = signal?.reason;
  if (reason instanceof Error) return reason;
  return new DOMException(`${what} aborted`, "AbortError");
}

/**
 * A pipelined control connection fell out of step: a reply that cannot answer the command it
 * is matched with, a reply with no command waiting, or a queued command that got no reply in
 * time. The connection is closed (its replies can no longer be trusted) and the server is
 * switched to lockstep; retriable like any transport failure.
 */
export class PipelineBrokenError extends FtpConnectionError {
  readonly reason: string;
  constructor(message: string, reason: string, options?: ErrorOptions) {
    super(message, options);
    this.reason = reason;
  }
}
