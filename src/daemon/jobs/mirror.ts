import { causeChain } from "../../protocol/index.js";
import { join } from "node:path";
import { isRetriable } from "../../client/index.js";
import type { Logger } from "../../log/index.js";
import { RetryLaterError, type HandlerResult, type JobHandler, type TransferInput } from "../../queue/index.js";
import { createFilter, planTotals, remotePathOf, runMirror, type MirrorOutcome } from "../../sync/index.js";
import type { TransferredFile as SyncTransferredFile } from "../../sync/execute.js";
import { DAEMON_MAX_DELETE, parseMaxDelete } from "../../sync/deleteGuard.js";
import type { MirrorJob } from "../config.js";
import { PermanentJobError } from "../errors.js";
import type { BandwidthLimits } from "../bandwidth.js";
import type { RemoteRegistry } from "../remotes.js";
import type { TransferredFile } from "../hooks/index.js";
import type { TransferProgress } from "../activity.js";
import { timedFiles } from "./fileTimes.js";
import type { MirrorStateStore } from "./mirrorRun/MirrorStateStore.js";

/** What the mirror runner needs. */
export interface MirrorRunnerDeps {
  readonly jobs: ReadonlyMap<string, MirrorJob>;
  readonly remotes: RemoteRegistry;
  /** The mirrors' sync states (the daemon's: the queue's database, shared with distributed runs). */
  readonly state: MirrorStateStore;
  /** Folder of the partial files' source identities (the daemon's state folder). */
  readonly recordsDir: string;
  readonly logger: Logger;
  /** The daemon's bandwidth limits; default none. */
  readonly bandwidth?: BandwidthLimits;
  /**
   * Told of each file as the run publishes it (verified, under its final name), failed run or
   * not; the job completes only once every call has returned or resolved (hooks: at least once).
   */
  readonly onTransferred?: (job: string, files: readonly TransferredFile[]) => void | Promise<void>;
  /** Hears the run's plan, files and bytes (the daemon's running-transfers view and metrics). */
  readonly progress?: TransferProgress;
}

/** Retries inside one run stay short: the queue's backoff handles longer trouble. */
const IN_RUN_RETRY = { attempts: 3, baseMs: 250, capMs: 2000 };

/** The RetryLaterError somewhere in an error's cause chain (the sync engine wraps errors). */
function retryLaterIn(err: unknown): RetryLaterError | undefined {
  for (const e of causeChain(err)) if (e instanceof RetryLaterError) return e;
  return undefined;
}

/**
 * The handler of `mirror` jobs: one run of the sync engine (scan, plan, transfer with atomic
 * publish, delete-after only when error-free) over the remote's connection pool. A run in
 * which some files failed fails the job, so the queue retries it with backoff; an
 * unreachable remote defers it without using an attempt.
 */
export function createMirrorHandler(deps: MirrorRunnerDeps): JobHandler<"mirror"> {
  return async (job, ctx): Promise<HandlerResult> => {
    const cfg = deps.jobs.get(job.payload.job);
    if (!cfg) throw new PermanentJobError(`mirror job "${job.payload.job}" is no longer in the config`);
    const endpoint = deps.remotes.endpoint(cfg.remote);
    const log = deps.logger.child({ job: cfg.name, jobId: job.id, remote: cfg.remote });
    const remoteName = `${endpoint.display.replace(/\/+$/, "")}/${cfg.remoteRoot}`;
    const [srcName, dstName] = cfg.direction === "upload" ? [cfg.localRoot, remoteName] : [remoteName, cfg.localRoot];
    const state = await deps.state.load(srcName, dstName);
    const timed = timedFiles(deps.progress, job.id);
    const bucket = deps.bandwidth?.for(cfg.remote);
    const where = (rel: string) => ({ remote: remotePathOf(cfg.remoteRoot, rel), local: join(cfg.localRoot, rel) });
    // Each file's hook notification goes out as the engine publishes it, not at the run's end:
    // a long mirror's first files are announced while it runs (and survive a crash mid-run).
    const reported: Promise<void>[] = [];
    const report = (t: SyncTransferredFile): void => {
      const w = where(t.path);
      const [path, source] = cfg.direction === "upload" ? [w.remote, w.local] : [w.local, w.remote];
      const done = deps.onTransferred?.(cfg.name, [{ path, source, bytes: t.size, verified: t.verified, ...(t.hash ? { hash: t.hash } : {}) }]);
      if (done) reported.push(done.catch((err: unknown) => log.error({ err, path }, "could not record the file's hook notification")));
    };
    let outcome: MirrorOutcome;
    try {
      outcome = await runMirror({
        direction: cfg.direction, localRoot: cfg.localRoot, remoteRoot: cfg.remoteRoot,
        pool: deps.remotes.syncPool(cfg.remote, ctx.signal), isRetriable,
        parallel: Math.min(cfg.parallel, endpoint.connections), delete: cfg.delete,
        allowEmptySource: cfg.allowEmptySource ?? false, maxDelete: cfg.maxDelete ?? parseMaxDelete(DAEMON_MAX_DELETE), names: { source: srcName, destination: dstName }, checksum: cfg.checksum, state, recordsDir: deps.recordsDir,
        retry: IN_RUN_RETRY, logger: log, signal: ctx.signal, ...(bucket ? { bucket } : {}), ...(cfg.listingLimits ? { listingLimits: cfg.listingLimits } : {}),
        ...(cfg.include.length + cfg.exclude.length > 0 ? { filter: createFilter({ include: cfg.include, exclude: cfg.exclude }) } : {}),
        progress: {
          planned: (plan) => {
            const t = planTotals(plan);
            deps.progress?.planned(job.id, t.transfers, t.bytes);
          },
          ...timed.sink,
          fileTransferred: report,
        },
      });
    } catch (err) {
      throw retryLaterIn(err) ?? err;
    } finally {
      await Promise.all(reported);
    }
    const result = outcome.result;
    if (!result) throw new Error("internal: a mirror run without a result");
    if (result.failed.length > 0) {
      const down = deps.remotes.downFor(cfg.remote);
      const summary = `${result.failed.length} operation(s) failed, ${result.transferred.length} file(s) transferred; first: ${result.failed[0]!.path === "" ? "" : `${result.failed[0]!.path}: `}${result.failed[0]!.error}`;
      if (down) throw new RetryLaterError(`remote ${cfg.remote} unreachable: ${summary}`, { delayMs: down.ms });
      // The typed failure that stopped the run (a full local disk: LocalFileError) rides along
      // as the cause, so the daemon defers on it without reading the summary's text.
      throw new Error(summary, result.stoppedBy ? { cause: result.stoppedBy } : {});
    }
    log.info({
      transferred: result.transferred.length, unchanged: outcome.plan.unchanged.length, deleted: result.deleted.length,
      bytes: result.bytes, durationMs: result.elapsedMs, skipped: outcome.skipped.length,
    }, "mirror converged");
    const transfers: TransferInput[] = result.transferred.map((t) => ({
      path: cfg.direction === "upload" ? remotePathOf(cfg.remoteRoot, t.path) : join(cfg.localRoot, t.path),
      bytes: t.size, durationMs: timed.durationOf(t.path), verified: t.verified,
    }));
    return { transfers };
  };
}
