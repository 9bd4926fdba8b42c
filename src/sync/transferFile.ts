import { isRetriable as clientIsRetriable } from "../client/index.js";
import type { TokenBucket } from "./bwlimit.js";
import { isWorthRetrying } from "./failures.js";
import type { SyncPool } from "./remote.js";
import { DEFAULT_RETRY, withRetry, type RetryPolicy } from "./retry.js";
import { NotListedError } from "./batch.js";
import { uploadOnePipelined } from "./pipelinedUploads.js";
import { downloadAttempt, SMALL_FILE_BYTES, uploadAttempt, type FileTransfer, type TransferOutcome } from "./transfer.js";
import { ShortTransferError, VerifyError } from "./verify.js";

/** Options of transferFile; all but `direction` and `pool` optional. */
export interface TransferFileOptions {
  /** upload: the local file to the remote path; download: the remote file to the local path. */
  direction: "upload" | "download";
  /** Where each attempt gets its connection. */
  pool: SyncPool;
  /** Whether an error deserves another attempt; default the client's isRetriable. */
  isRetriable?: (err: unknown) => boolean;
  /** Attempts and backoff; default DEFAULT_RETRY (5 attempts). The daemon's outbox uses one: its queue retries. */
  retry?: RetryPolicy;
  /**
   * An earlier run may have left a partial (the daemon's retried job, or a record of one
   * started): the first attempt measures it and resumes onto it instead of starting from
   * `file.resumeFrom` or 0. Later attempts always do. Default false.
   */
  partialMayExist?: boolean;
  /** What an earlier try of this file (a batched upload) used up: its attempts, and whether it left wrong bytes. */
  prior?: { attempts: number; restart: boolean };
  /** Shared bandwidth limit; default none. */
  bucket?: TokenBucket;
  /** Bytes moved, as they pass (deltas). */
  onBytes?: (n: number) => void;
  /** Each attempt as it starts (1-based, earlier tries included). */
  onAttempt?: (attempt: number) => void;
  /** Before each wait between attempts, e.g. to log. */
  onRetry?: (err: unknown, retry: number, delayMs: number) => void;
  /** Checked before each retry: true (the run stopped on a fatal failure) ends the file's retries. */
  shouldStop?: () => boolean;
  signal?: AbortSignal;
}

/** A finished transfer, with the attempts it took. */
export interface TransferFileOutcome extends TransferOutcome {
  attempts: number;
}

/**
 * The one per-file path of mirror, get, put and the daemon's outbox: attempts under the retry
 * policy, each on a pooled connection, moving the bytes into the temporary name
 * (transfer.ts), verifying them (verify.ts) and publishing them (publish.ts). Each attempt
 * after the first resumes from the partial the one before left, except after a failed
 * verification (VerifyError), when the partial holds wrong bytes and the next attempt starts
 * over. Which failures are retried is failures.ts's decision. Rejects with the last error,
 * unwrapped: the caller adds its context.
 */
export async function transferFile(file: FileTransfer, o: TransferFileOptions): Promise<TransferFileOutcome> {
  const isRetriable = o.isRetriable ?? clientIsRetriable;
  let restart = o.prior?.restart ?? false;
  let attempts = 0;
  const outcome = await withRetry(async (n) => {
    attempts = n + (o.prior?.attempts ?? 0);
    o.onAttempt?.(attempts);
    const attempt = {
      resumePartial: attempts > 1 || o.partialMayExist === true, restart,
      ...(o.bucket ? { bucket: o.bucket } : {}), ...(o.onBytes ? { onBytes: o.onBytes } : {}), ...(o.signal ? { signal: o.signal } : {}),
    };
    try {
      return await o.pool.use(async (c) => {
        if (o.direction === "download") return downloadAttempt(c, file, attempt);
        // A fresh small upload on a server that pipelines: about three round trips instead of six.
        if (!attempt.resumePartial && !restart && !o.bucket && !file.resumeFrom && file.size <= SMALL_FILE_BYTES) {
          const out = await uploadOnePipelined(c, file, { ...(o.onBytes ? { onBytes: o.onBytes } : {}), ...(o.signal ? { signal: o.signal } : {}) });
          // A server that offers SIZE but refuses it: the plain path verifies another way, on the same connection.
          if (out !== undefined && !(out instanceof NotListedError)) {
            if (out instanceof Error) throw out;
            return out;
          }
        }
        return uploadAttempt(c, file, attempt);
      });
    } catch (err) {
      // A short transfer left a good prefix: resume after it. Wrong bytes: start over.
      if (err instanceof VerifyError && !(err instanceof ShortTransferError)) restart = true;
      throw err;
    }
  }, {
    isRetriable: (err) => isWorthRetrying(err, isRetriable),
    // Attempts an earlier (batched) try already used count against the policy's budget.
    policy: withoutPrior(o.retry ?? DEFAULT_RETRY, o.prior?.attempts ?? 0),
    ...(o.onRetry ? { onRetry: o.onRetry } : {}), ...(o.shouldStop ? { shouldStop: o.shouldStop } : {}),
    ...(o.signal ? { signal: o.signal } : {}),
  });
  return { ...outcome, attempts };
}

function withoutPrior(policy: RetryPolicy, used: number): RetryPolicy {
  return used > 0 ? { ...policy, attempts: Math.max(1, policy.attempts - used) } : policy;
}
