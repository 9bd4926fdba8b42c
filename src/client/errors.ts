import { FtpReplyError } from "../protocol/index.js";

/** The control or data connection failed: refused, reset, closed by the peer, or broken protocol. */
export class FtpConnectionError extends Error {
  override readonly name = "FtpConnectionError";
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
const RETRIABLE_SOCKET_CODES = new Set([
  "ECONNRESET", "ECONNREFUSED", "ECONNABORTED", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN",
]);

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
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === "string" && RETRIABLE_SOCKET_CODES.has(code)) return true;
  return false;
}

/**
 * Whether an error broke the connection it happened on, so a pool must discard it rather
 * than reuse it: transport failures, and 421 (the server is closing the session).
 */
export function isConnectionFatal(err: unknown): boolean {
  if (err instanceof FtpReplyError) return err.code === 421;
  if (err instanceof FtpTimeoutError || err instanceof FtpConnectionError) return true;
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && RETRIABLE_SOCKET_CODES.has(code);
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
