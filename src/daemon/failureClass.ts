import { FtpConnectionError, FtpTimeoutError } from "../client/errors.js";
import { causeChain, FtpReplyError } from "../protocol/index.js";
import { isLocalFileError } from "../sync/localErrors.js";
import { VerifyError } from "../sync/verify.js";
import { PermanentJobError } from "./errors.js";
import { isConnectionLost } from "../client/errors.js";
import { isLoginRefused } from "./remotes.js";

/** Why a run failed, as a small fixed set (a metric label must not carry free text). */
export type FailureClass = "login_refused" | "unreachable" | "timeout" | "verify" | "local" | "server_refused" | "permanent" | "other";

/** Every failure class, for documentation and zero-valued series. */
export const FAILURE_CLASSES: readonly FailureClass[] = ["login_refused", "unreachable", "timeout", "verify", "local", "server_refused", "permanent", "other"];

/**
 * The class of a job's error, checked from the most specific: a login refusal before an
 * unreachable remote (both break the connection), a typed error anywhere in the cause chain
 * before the text of a run summary.
 */
export function failureClassOf(err: unknown): FailureClass {
  if (isLoginRefused(err)) return "login_refused";
  if (isConnectionLost(err)) return "unreachable";
  for (const e of causeChain(err)) {
    if (e instanceof FtpTimeoutError) return "timeout";
    if (e instanceof VerifyError) return "verify";
    if (isLocalFileError(e)) return "local";
    if (e instanceof PermanentJobError) return "permanent";
    if (e instanceof FtpReplyError) return "server_refused";
    if (e instanceof FtpConnectionError) return "unreachable";
  }
  return "other";
}
