import { lutimes, realpath, rm, rmdir } from "node:fs/promises";
import { dirname } from "node:path";
import type { Logger } from "../log/index.js";
import { FtpReplyError } from "../protocol/index.js";
import type { TokenBucket } from "./bwlimit.js";
import type { Plan, PlanOp, TransferOp } from "./plan.js";
import { remotePathOf, type SyncClient, type SyncPool } from "./remote.js";
import { DEFAULT_RETRY, withRetry, type RetryPolicy } from "./retry.js";
import type { SyncState } from "./state.js";
import { LocalFileError } from "./localErrors.js";
import { makeLocalDir } from "./localWrite.js";
import { isWorthRetrying, runStopper } from "./failures.js";
import { assertInside, localPathOf } from "./paths.js";
import type { TransferOutcome } from "./transfer.js";
import { transferFile } from "./transferFile.js";
import { VerifyError } from "./verify.js";
import { batchUploads, NotListedError } from "./batch.js";
import { uploadSmallBatch } from "./pipelinedUploads.js";
import { batchDownloads, downloadSmallBatch, NotPipelinedError } from "./pipelinedDownloads.js";

/** Hooks for a progress display; all optional. */
export interface ProgressSink {
  /** A transfer began (size in bytes). */
  fileStarted?(path: string, size: number): void;
  /** Bytes moved (a delta). */
  bytes?(n: number): void;
  /** A transfer ended, well or not. */
  fileDone?(path: string, ok: boolean): void;
  /** A file is transferred, verified and under its final name, while the run goes on (before its fileDone). */
  fileTransferred?(file: TransferredFile): void;
}

/** Options of executePlan. */
export interface ExecuteOptions {
  /** The local folder of the mirror. */
  localRoot: string;
  /** The remote folder of the mirror (relative to the login folder unless absolute). */
  remoteRoot: string;
  pool: SyncPool;
  /** Whether an error deserves another try (the client's isRetriable). */
  isRetriable: (err: unknown) => boolean;
  /** Transfers at once; default 4. */
  parallel?: number;
  /** Shared bandwidth limit; default none. */
  bucket?: TokenBucket;
  retry?: RetryPolicy;
  /** Run the plan's deletions (--delete); they still run only after an error-free run. */
  delete?: boolean;
  /**
   * Why the plan's deletions are refused (deleteGuard.ts: an empty source, over --max-delete);
   * the rest of the plan runs, the deletions do not, and the refusal is a failure of the run.
   */
  deleteRefusal?: string;
  /** Updated after each verified transfer; saved by the caller. */
  state?: SyncState;
  /**
   * Folder of the partial files' source identities (B11) when `state` is not a file (none, or
   * one kept in the daemon's database); default the state file's folder. A part of a
   * distributed run (issue 16) transfers without a sync state.
   */
  recordsDir?: string;
  progress?: ProgressSink;
  logger?: Logger;
  signal?: AbortSignal;
  /** True when an include/exclude filter is in use: a folder still holding excluded entries is kept, not a failure. */
  filtered?: boolean;
  /** Entries the destination folder had at scan time (uploads), to judge if listing it is cheap; default 0. */
  listedEntries?: (dir: string) => number;
}

/** One verified, published file of a run (the queue's TransferRecord is a row of its history). */
export interface TransferredFile extends TransferOutcome {
  path: string;
  size: number;
  reason: string;
  attempts: number;
}

/** What a run did, in the order a summary reports it. */
export interface ExecuteResult {
  transferred: TransferredFile[];
  created: string[];
  touched: string[];
  deleted: string[];
  /** Failures: the file, what was being done, and the error (with the server's reply). */
  failed: { path: string; op: PlanOp["kind"] | "conflict"; error: string }[];
  /** Why deletions were not run, when the plan had some. */
  deletesSkipped?: string;
  /**
   * The fatal failure that stopped the run early (failures.ts: login refused, server
   * unreachable, local destination full or read-only), typed; the files left are in `failed`
   * as not attempted.
   */
  stoppedBy?: Error;
  /** Bytes sent over the wire. */
  bytes: number;
  elapsedMs: number;
}

/**
 * Run a plan: folders, then transfers N at a time (each retried with backoff on retriable
 * errors, resumed from the bytes already there, verified and published atomically), then
 * mtime fixes and stale partials, and deletions last, only when nothing failed (STYLE 10).
 */
export async function executePlan(plan: Plan, options: ExecuteOptions): Promise<ExecuteResult> {
  const started = performance.now();
  const result: ExecuteResult = { transferred: [], created: [], touched: [], deleted: [], failed: [], bytes: 0, elapsedMs: 0 };
  for (const c of plan.conflicts) result.failed.push({ path: c.path, op: "conflict", error: c.reason });
  const by = <K extends PlanOp["kind"]>(...kinds: K[]) => plan.ops.filter((op): op is Extract<PlanOp, { kind: K }> => (kinds as string[]).includes(op.kind));
  const ctx = await makeContext(plan, options);
  await runEach(by("mkdir"), 1, result, (op) => ctx.mkdir(op.path).then(() => { result.created.push(op.path); }));
  await runTransfers(by("upload", "download"), ctx, options, result);
  await runEach(by("setMtime"), options.parallel ?? 4, result, (op) =>
    ctx.setMtime(op.path, op.mtime).then(() => { result.touched.push(op.path); }));
  const deletes = by("delete");
  await runEach(deletes.filter((op) => op.partial), 1, result, (op) => ctx.remove(op.path, "file"));
  const real = deletes.filter((op) => !op.partial);
  if (real.length > 0 && options.delete) {
    if (options.deleteRefusal !== undefined) {
      // A failure with no path: the whole deletion step, not one entry, was refused.
      result.failed.push({ path: "", op: "delete", error: options.deleteRefusal });
      result.deletesSkipped = options.deleteRefusal;
      options.logger?.error(options.deleteRefusal);
    } else if (result.failed.length > 0) {
      result.deletesSkipped = `not deleting ${real.length} extraneous entries because ${result.failed.length} operations failed`;
      options.logger?.warn(result.deletesSkipped);
    } else {
      // Sequential, children before parents, so every folder is empty when its turn comes.
      await runEach(real, 1, result, async (op) => {
        try {
          await ctx.remove(op.path, op.type);
        } catch (err) {
          // A folder that is not empty after its listed entries went still holds entries the
          // filter left out of the mirror: excluded entries are never deleted, so it stays.
          if (!(options.filtered && op.type === "dir" && isNotEmpty(err))) throw err;
          options.logger?.info({ path: op.path }, "folder kept: it holds entries excluded from the mirror");
          return;
        }
        result.deleted.push(op.path);
        options.state?.delete(op.path);
      });
    }
  }
  options.state?.retain(plan.sourceFiles);
  result.elapsedMs = Math.round(performance.now() - started);
  return result;
}

/**
 * The transfers, `parallel` at a time: small uploads in batches of one folder (verified by
 * one listing, see batch.ts), everything else one by one. A file the batch could not settle
 * (not in the listing, a failed check, a retriable error) goes through the plain path with
 * its retries; an error no retry can fix fails the file at once.
 */
async function runTransfers(ops: TransferOp[], ctx: Context, options: ExecuteOptions, result: ExecuteResult): Promise<void> {
  const parallel = options.parallel ?? 4;
  const { batches, singles } = options.bucket ? { batches: [], singles: ops } : batchUploads(ops, parallel, options.listedEntries);
  // Small downloads in batches too: a pipelined connection takes a batch in about one round trip per file.
  const downloads = options.bucket ? { batches: [], singles } : batchDownloads(singles, parallel);
  const items: (TransferOp | TransferOp[])[] = [...batches, ...downloads.batches, ...downloads.singles];
  let next = 0;
  let batching = true;
  // A fatal failure (failures.ts: a full or read-only destination, a refused login, a server
  // that cannot be reached) fails every file that follows: stop taking new ones and say so
  // once per file left, instead of trying (and failing) each of them.
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++]!;
      const stopped = result.stoppedBy;
      if (stopped) {
        for (const op of Array.isArray(item) ? item : [item]) {
          result.failed.push({ path: op.path, op: op.kind, error: `${op.kind} ${op.path}: not attempted: the run stopped early: ${stopped.message}` });
        }
        continue;
      }
      let rest: { op: TransferOp; prior?: PriorAttempt }[];
      if (Array.isArray(item) && item[0]?.kind === "download") {
        rest = (await runBatch(item, options, result, (c) => downloadSmallBatch(c, item, {
          localRoot: options.localRoot, remoteRoot: options.remoteRoot, checkLocalDir: (dir) => ctx.checkLocalDir(dir),
          onBytes: (n) => { result.bytes += n; options.progress?.bytes?.(n); },
          ...(options.signal ? { signal: options.signal } : {}),
        }))).retry;
      } else if (Array.isArray(item) && batching) {
        const left = await runBatch(item, options, result);
        // A listing that shows none of the temporary files (a server hiding dotfiles) will not
        // show them in the next batch either: send the rest one by one.
        if (left.unlisted === item.length) batching = false;
        rest = left.retry;
      } else {
        rest = (Array.isArray(item) ? item : [item]).map((op) => ({ op }));
      }
      for (const { op, prior } of rest) {
        // A batch's files left for the plain path: once the run has stopped, not tried either.
        const stoppedNow = result.stoppedBy;
        if (stoppedNow) {
          result.failed.push({ path: op.path, op: op.kind, error: `${op.kind} ${op.path}: not attempted: the run stopped early: ${stoppedNow.message}` });
          continue;
        }
        try {
          await transferOne(op, ctx, options, result, prior);
        } catch (err) {
          result.failed.push({ path: op.path, op: op.kind, error: describeError(err) });
          result.stoppedBy ??= runStopper(err);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, parallel), items.length) }, worker));
}

/** Run one batch; returns the files left for the plain path, and how many the listing lacked. */
async function runBatch(batch: TransferOp[], options: ExecuteOptions, result: ExecuteResult,
  lane: (c: SyncClient) => Promise<(TransferOutcome | Error)[]> = (c) => uploadSmallBatch(c, batch, {
    localRoot: options.localRoot, remoteRoot: options.remoteRoot,
    onBytes: (n) => { result.bytes += n; options.progress?.bytes?.(n); },
    ...(options.signal ? { signal: options.signal } : {}),
  })): Promise<{ retry: { op: TransferOp; prior?: PriorAttempt }[]; unlisted: number }> {
  for (const op of batch) options.progress?.fileStarted?.(op.path, op.size);
  let outcomes: (TransferOutcome | Error)[];
  let whole: Error | undefined;
  try {
    outcomes = await options.pool.use(lane);
  } catch (err) {
    whole = err instanceof Error ? err : new Error(String(err));
    outcomes = batch.map(() => whole!);
  }
  const retry: { op: TransferOp; prior?: PriorAttempt }[] = [];
  // The batch as a whole failed on a fatal error. A refused login is not retried: the run stops
  // here and every file of the batch fails with it. An unreachable server gets one file's
  // retries on the plain path (the batch was that file's first attempt); the run's stop then
  // leaves the others not attempted.
  const stopper = whole ? runStopper(whole) : undefined;
  if (whole && stopper && !isWorthRetrying(whole, options.isRetriable)) {
    result.stoppedBy ??= stopper;
    for (const op of batch) {
      result.failed.push({ path: op.path, op: op.kind, error: `${op.kind} ${op.path}: ${describeError(whole)}` });
      options.progress?.fileDone?.(op.path, false);
    }
    return { retry, unlisted: 0 };
  }
  if (whole && stopper) {
    return { retry: batch.map((op, i) => (i === 0 ? { op, prior: { attempts: 1, restart: false } } : { op })), unlisted: 0 };
  }
  let unlisted = 0;
  for (const [i, op] of batch.entries()) {
    const out = outcomes[i];
    if (out === undefined || out instanceof Error) {
      if (out instanceof NotListedError) unlisted++;
      // A fatal failure of one file (a full or read-only disk) goes to the plain path too,
      // which stops the run on it.
      const asNew = out instanceof NotListedError || out instanceof NotPipelinedError || runStopper(out) !== undefined;
      if (out === undefined || asNew || out instanceof VerifyError || options.isRetriable(out)) {
        // Unverifiable (not listed) or not tried (a lockstep server): send it again as if new.
        // Otherwise the next attempt resumes from what arrived, or starts over when a check
        // failed (the temporary file is wrong).
        retry.push(asNew ? { op } : { op, prior: { attempts: 1, restart: out instanceof VerifyError } });
        continue;
      }
      options.state?.delete(op.path);
      result.failed.push({ path: op.path, op: op.kind, error: `${op.kind} ${op.path}: ${describeError(out)}` });
      options.progress?.fileDone?.(op.path, false);
      continue;
    }
    const done: TransferredFile = { ...out, path: op.path, size: op.size, reason: op.reason, attempts: 1 };
    result.transferred.push(done);
    options.progress?.fileTransferred?.(done);
    if (op.srcStamp !== undefined) {
      options.state?.set(op.path, { size: op.size, srcStamp: op.srcStamp, ...(out.hash ? { hash: out.hash } : {}) });
      options.state?.saveSoon();
    }
    options.progress?.fileDone?.(op.path, true);
  }
  return { retry, unlisted };
}

/**
 * Run `fn` over items with at most `limit` at once; a failure is recorded and the rest go on,
 * unless the server is gone (a refused login or an unreachable server stopped the run): then
 * the rest are reported not attempted. (A full local disk does not stop these steps: setting a
 * time or removing a partial needs no room.)
 */
async function runEach<T extends PlanOp>(items: T[], limit: number, result: ExecuteResult, fn: (op: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const op = items[next++]!;
      const stopped = result.stoppedBy;
      if (stopped && !(stopped instanceof LocalFileError)) {
        result.failed.push({ path: op.path, op: op.kind, error: `${op.kind} ${op.path}: not attempted: the run stopped early: ${stopped.message}` });
        continue;
      }
      try {
        await fn(op);
      } catch (err) {
        result.failed.push({ path: op.path, op: op.kind, error: describeError(err) });
        result.stoppedBy ??= runStopper(err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, worker));
}

/** Whether removing a folder failed because it is not empty (locally ENOTEMPTY/EEXIST; a server answers RMD with 550). */
function isNotEmpty(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === "ENOTEMPTY" || code === "EEXIST" || (err instanceof FtpReplyError && err.code === 550);
}

/** An error as one line: the message carries the command and the server's reply. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** What an earlier (batched) attempt left: how many attempts it used, and whether to start over. */
interface PriorAttempt {
  attempts: number;
  restart: boolean;
}

async function transferOne(op: TransferOp, ctx: Context, options: ExecuteOptions, result: ExecuteResult, prior?: PriorAttempt): Promise<void> {
  const localPath = localPathOf(options.localRoot, op.path);
  const t = {
    localPath, remotePath: remotePathOf(options.remoteRoot, op.path), size: op.size,
    ...(op.mtime ? { mtime: op.mtime } : {}), ...(op.resumeFrom ? { resumeFrom: op.resumeFrom } : {}),
    // Partials' source identities (B11) live beside the mirror's sync state (the daemon's state folder for its jobs).
    ...(options.state?.file ? { records: { stateDir: dirname(options.state.file) } } : options.recordsDir ? { records: { stateDir: options.recordsDir } } : {}),
  };
  if (op.kind === "download") await ctx.checkLocalDir(dirname(localPath));
  options.progress?.fileStarted?.(op.path, op.size);
  let attempts = 0;
  let ok = false;
  try {
    const outcome = await transferFile(t, {
      direction: op.kind, pool: options.pool, isRetriable: options.isRetriable, retry: options.retry ?? DEFAULT_RETRY,
      ...(prior ? { prior } : {}), ...(options.bucket ? { bucket: options.bucket } : {}), ...(options.signal ? { signal: options.signal } : {}),
      onBytes: (n) => { result.bytes += n; options.progress?.bytes?.(n); },
      onAttempt: (n) => { attempts = n; },
      onRetry: (err, retry, delayMs) => options.logger?.warn({ path: op.path, retry, delayMs, err: describeError(err) }, "transfer failed, retrying"),
      shouldStop: () => result.stoppedBy !== undefined,
    });
    const done: TransferredFile = { ...outcome, path: op.path, size: op.size, reason: op.reason, attempts };
    result.transferred.push(done);
    options.progress?.fileTransferred?.(done);
    if (outcome.restarted) options.logger?.warn({ path: op.path, reason: outcome.restarted }, "partial file discarded: started over from byte 0");
    if (op.srcStamp !== undefined) {
      options.state?.set(op.path, { size: op.size, srcStamp: op.srcStamp, ...(outcome.hash ? { hash: outcome.hash } : {}) });
      options.state?.saveSoon();
    }
    ok = true;
  } catch (err) {
    options.state?.delete(op.path);
    throw new Error(`${op.kind} ${op.path}: ${describeError(err)}${attempts > 1 ? ` (after ${attempts} attempts)` : ""}`, { cause: err });
  } finally {
    options.progress?.fileDone?.(op.path, ok);
  }
}

/** Side-specific primitives, chosen once by the plan's direction. */
interface Context {
  mkdir(path: string): Promise<void>;
  setMtime(path: string, mtime: Date): Promise<void>;
  remove(path: string, type: "file" | "dir"): Promise<void>;
  checkLocalDir(dir: string): Promise<void>;
}

async function makeContext(plan: Plan, o: ExecuteOptions): Promise<Context> {
  const remote = (rel: string) => remotePathOf(o.remoteRoot, rel);
  const local = (rel: string) => localPathOf(o.localRoot, rel);
  if (plan.direction === "download") {
    const needsRoot = plan.ops.some((op) => op.kind !== "delete");
    if (needsRoot) await makeLocalDir(o.localRoot);
    const rootReal = needsRoot ? await realpath(o.localRoot) : o.localRoot;
    const checked = new Map<string, Promise<void>>(); // once per folder, not once per file
    return {
      mkdir: async (p) => { await makeLocalDir(local(p)); await assertInside(rootReal, local(p)); },
      setMtime: (p, m) => lutimes(local(p), m, m), // never through a link
      remove: async (p, type) => {
        await assertInside(rootReal, dirname(local(p)));
        if (type === "dir") await rmdir(local(p)); else await rm(local(p));
      },
      checkLocalDir: (dir) => {
        let done = checked.get(dir);
        if (!done) {
          done = makeLocalDir(dir).then(() => assertInside(rootReal, dir));
          checked.set(dir, done);
        }
        return done;
      },
    };
  }
  if (plan.ops.some((op) => op.kind === "upload" || op.kind === "mkdir")) {
    await withRetry(() => o.pool.use((c) => c.ensureDir(remote(""))), { isRetriable: o.isRetriable });
  }
  const retrying = <T>(fn: () => Promise<T>) => withRetry(fn, { isRetriable: o.isRetriable, policy: o.retry ?? DEFAULT_RETRY });
  return {
    // The plan creates parents before children (and the root is made above), so one MKD is
    // enough; anything unexpected (it exists, a server quirk) goes through ensureDir.
    mkdir: (p) => retrying(() => o.pool.use(async (c) => {
      if (c.mkdir) {
        try {
          await c.mkdir(remote(p));
          return;
        } catch (err) {
          if (!(err instanceof FtpReplyError)) throw err;
        }
      }
      await c.ensureDir(remote(p));
    })),
    setMtime: async (p, m) => {
      const done = await retrying(() => o.pool.use((c) => c.setModifiedTime(remote(p), m)));
      if (!done) throw new Error(`set mtime ${p}: the server cannot set modification times (no MFMT)`);
    },
    remove: (p, type) => retrying(() => o.pool.use((c) => (type === "dir" ? c.rmdir(remote(p)) : c.remove(remote(p))))),
    checkLocalDir: async () => {},
  };
}
