import { FtpLoginError, FtpUnreachableError, isLoginRefused, isUnreachable } from "../client/index.js";
import { causeChain } from "../protocol/index.js";
import { LocalFileError } from "./localErrors.js";
import { VerifyError } from "./verify.js";

// What a failed file means for the run, decided here from the client's typed errors
// (client/errors.ts) and the local ones (localErrors.ts); sync never reads reply codes.
//   fatal    the run cannot go on: every later file would fail the same way (the server
//            refuses the login or cannot be reached; the local destination is full or
//            read-only). The run stops once, and the files left are reported not attempted.
//   retry    another attempt may succeed: a cut connection, a timeout, a transient reply, a
//            failed verification (the next attempt starts over).
//   no-retry this file failed, the others go on: a 550, a permission refused, a bad name.

/** How a failure is handled: see the table above. */
export type FailureClass = "fatal" | "no-retry" | "retry";

/**
 * The error that stops the run, when `err` is fatal: the typed cause (FtpLoginError,
 * FtpUnreachableError, a disk-full or read-only LocalFileError), or `err` itself when the
 * fact came from a raw socket code; undefined when the failure is the file's own.
 */
export function runStopper(err: unknown): Error | undefined {
  for (const e of causeChain(err)) {
    if (e instanceof LocalFileError) return e.condition === "disk-full" || e.condition === "read-only" ? e : undefined;
    if (e instanceof FtpLoginError || e instanceof FtpUnreachableError) return e;
  }
  if (isLoginRefused(err) || isUnreachable(err)) return err instanceof Error ? err : new Error(String(err));
  return undefined;
}

/** The class of a failure, given the client's retriability (the run's isRetriable). */
export function classifyFailure(err: unknown, isRetriable: (err: unknown) => boolean): FailureClass {
  if (runStopper(err)) return "fatal";
  if (err instanceof VerifyError || isRetriable(err)) return "retry";
  return "no-retry";
}

/**
 * Whether a file's attempt loop should try again. A fatal failure is not retried, with one
 * exception: an unreachable server gets the file's retries (and the run's outage patience,
 * retry.ts), since a server restarting looks the same for a while (FAULTS C4); when those
 * run out it stops the run.
 */
export function isWorthRetrying(err: unknown, isRetriable: (err: unknown) => boolean): boolean {
  const kind = classifyFailure(err, isRetriable);
  return kind === "retry" || (kind === "fatal" && isUnreachable(err) && isRetriable(err));
}
