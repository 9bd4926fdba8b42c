import { join } from "node:path";
import { isRetriable } from "../../../client/index.js";
import type { HandlerResult, JobContext, LeasedJob, PayloadOf, TransferInput } from "../../../queue/index.js";
import { executePlan, remotePathOf, type ExecuteResult, type Plan } from "../../../sync/index.js";
import { assertSamePlan, failureOf, IN_RUN_RETRY, mirrorContext, retryLaterIn, type MirrorContext, type MirrorRunDeps } from "./context.js";
import { filesInPlace } from "./inPlace.js";
import { fromPartOp } from "./parts.js";
import { timedFiles } from "../fileTimes.js";

/** A leased `mirror-part` job. */
export type MirrorPartJob = LeasedJob & { readonly kind: "mirror-part"; readonly payload: PayloadOf<"mirror-part"> };

/**
 * One part of a distributed mirror run: its files through the engine of the single-job path
 * (retries, resume, verify, atomic publish, the remote's pool and bandwidth). A part in which
 * a file failed fails, so the queue retries it with backoff and, out of attempts, sends it
 * `dead` (the finish then fails the run and deletes nothing); an unreachable remote defers it
 * without using an attempt. A retry skips the files an earlier attempt already put in place
 * (inPlace.ts), so a node lost mid-part costs only the files it had not finished.
 */
export async function runPart(deps: MirrorRunDeps, job: MirrorPartJob, jobCtx: JobContext): Promise<HandlerResult> {
  const ctx = mirrorContext(deps, job.payload.job);
  const what = `mirror ${ctx.cfg.name} run ${job.payload.run} part ${job.payload.part}`;
  assertSamePlan(ctx, job.payload.planned, what);
  const { cfg, endpoint } = ctx;
  const log = deps.logger.child({ job: cfg.name, jobId: job.id, remote: cfg.remote, run: job.payload.run, part: job.payload.part });
  let ops = job.payload.ops.map((op) => fromPartOp(op, cfg.direction));
  if (job.attempts > 1 && !cfg.checksum) {
    const pool = deps.remotes.syncPool(cfg.remote, jobCtx.signal);
    let inPlace: Set<string>;
    try {
      inPlace = await filesInPlace(ops, { direction: cfg.direction, localRoot: cfg.localRoot, remoteRoot: cfg.remoteRoot, pool, signal: jobCtx.signal });
    } catch (err) {
      throw retryLaterIn(err) ?? err;
    }
    if (inPlace.size > 0) log.info({ inPlace: inPlace.size, left: ops.length - inPlace.size }, "part retried: files an earlier attempt sent are in place");
    ops = ops.filter((op) => !inPlace.has(op.path));
    if (ops.length === 0) return {};
  }
  const plan: Plan = { direction: cfg.direction, ops, unchanged: [], conflicts: [], sourceFiles: new Set() };
  const timed = timedFiles(deps.progress, job.id);
  const bucket = deps.bandwidth?.for(cfg.remote);
  const listed = job.payload.listed;
  deps.progress?.planned(job.id, ops.length, ops.reduce((n, op) => n + op.size - (op.resumeFrom ?? 0), 0));
  let result: ExecuteResult;
  try {
    result = await executePlan(plan, {
      localRoot: cfg.localRoot, remoteRoot: cfg.remoteRoot, pool: deps.remotes.syncPool(cfg.remote, jobCtx.signal), isRetriable,
      parallel: Math.min(cfg.parallel, endpoint.connections), retry: IN_RUN_RETRY, recordsDir: deps.recordsDir,
      logger: log, signal: jobCtx.signal, ...(bucket ? { bucket } : {}),
      ...(listed ? { listedEntries: (dir: string) => listed[dir] ?? 0 } : {}),
      progress: {
        ...timed.sink,
      },
    });
  } catch (err) {
    throw retryLaterIn(err) ?? err;
  }
  reportTransferred(deps, ctx, result);
  if (result.failed.length > 0) throw failureOf(deps, ctx, what, result);
  log.info({ transferred: result.transferred.length, bytes: result.bytes, durationMs: result.elapsedMs }, "mirror part done");
  const transfers: TransferInput[] = result.transferred.map((t) => ({
    path: cfg.direction === "upload" ? remotePathOf(cfg.remoteRoot, t.path) : join(cfg.localRoot, t.path),
    bytes: t.size, durationMs: timed.durationOf(t.path), verified: t.verified,
  }));
  return { transfers };
}

/** The files a part published, for the per-file hooks (at least once: a failed part's successes too). */
function reportTransferred(deps: MirrorRunDeps, ctx: MirrorContext, result: ExecuteResult): void {
  if (!deps.onTransferred || result.transferred.length === 0) return;
  const { cfg } = ctx;
  deps.onTransferred(cfg.name, result.transferred.map((t) => {
    const remote = remotePathOf(cfg.remoteRoot, t.path), local = join(cfg.localRoot, t.path);
    const [path, source] = cfg.direction === "upload" ? [remote, local] : [local, remote];
    return { path, source, bytes: t.size, verified: t.verified, ...(t.hash ? { hash: t.hash } : {}) };
  }));
}
