import { isRetriable } from "../../../client/index.js";
import { RetryLaterError, type HandlerResult, type JobContext, type LeasedJob, type PayloadOf } from "../../../queue/index.js";
import { createFilter, executePlan, planTotals, runMirror, type MirrorOutcome, type Plan, type PlanOp, type SyncState, type TransferOp } from "../../../sync/index.js";
import { DAEMON_MAX_DELETE, parseMaxDelete } from "../../../sync/deleteGuard.js";
import { DEFAULT_FINISH_POLL_MS, failureOf, finishDedupeKey, IN_RUN_RETRY, mirrorContext, partDedupeKey, retryLaterIn, type MirrorContext, type MirrorRunDeps } from "./context.js";
import { DEFAULT_PART_LIMITS, splitIntoParts, toPartOp } from "./parts.js";
import { parentRel } from "../../../sync/tree.js";

/** A leased `mirror` job. */
export type MirrorPlanJob = LeasedJob & { readonly kind: "mirror"; readonly payload: PayloadOf<"mirror"> };

/** Kinds that make up a distributed run after its plan. */
const RUN_KINDS: ReadonlySet<string> = new Set(["mirror-part", "mirror-finish"]);

/**
 * The plan step of a distributed mirror run (issue 16): scan both sides and plan (the parallel
 * scan of the single-job path), create the folders, enqueue the transfers as parts any node
 * may lease and one finish that deletes only after all of them succeeded, then complete.
 * While a run of this mirror is unfinished, a tick does nothing: runs never overlap.
 */
export async function planRun(deps: MirrorRunDeps, job: MirrorPlanJob, jobCtx: JobContext): Promise<HandlerResult> {
  const ctx = mirrorContext(deps, job.payload.job);
  const log = deps.logger.child({ job: ctx.cfg.name, jobId: job.id, remote: ctx.cfg.remote, step: "plan" });
  const busy = await unfinishedRun(deps, ctx.cfg.name, job.id);
  if (busy === "other") {
    log.info("a run of this mirror is still in progress; tick coalesced");
    return {};
  }
  if (busy === "mine-enqueued") return {};
  if (busy === "mine-partial") {
    // An earlier attempt of this job died between enqueueing parts and the finish: let those
    // parts settle, then plan afresh (their files then look unchanged).
    throw new RetryLaterError(`mirror ${ctx.cfg.name}: parts of an interrupted plan of this run are still waiting; planning again once they settle`,
      { delayMs: deps.finishPollMs ?? DEFAULT_FINISH_POLL_MS });
  }
  const state = await deps.state.load(ctx.names.source, ctx.names.destination);
  const outcome = await scanAndPlan(deps, ctx, job, jobCtx, state);
  const { plan } = outcome;
  // What the plan's sources no longer hold is forgotten now; what the parts send is recorded by
  // the finish. Saving here keeps the finish's state write small and the plan's pruning durable.
  state.retain(plan.sourceFiles);
  await deps.state.save(ctx.names.source, ctx.names.destination, state);
  await makeFolders(deps, ctx, plan, jobCtx);
  const transfers = plan.ops.filter((op): op is TransferOp => op.kind === "upload" || op.kind === "download");
  const parts = splitIntoParts(transfers, deps.partLimits ?? DEFAULT_PART_LIMITS);
  const partIds: number[] = [];
  for (const [index, ops] of parts.entries()) {
    jobCtx.signal.throwIfAborted();
    const listed = ctx.cfg.direction === "upload" ? Object.fromEntries([...new Set(ops.map((op) => parentRel(op.path)))].map((d) => [d, outcome.listedEntries(d)])) : undefined;
    const { job: part } = await deps.queue.enqueue({
      kind: "mirror-part",
      payload: { job: ctx.cfg.name, run: job.id, part: index, planned: ctx.planned, ops: ops.map(toPartOp), ...(listed ? { listed } : {}) },
      dedupeKey: partDedupeKey(ctx.cfg.name, job.id, index), concurrencyKey: ctx.cfg.remote,
    }, { coalesceWithLeased: true });
    partIds.push(part.id);
  }
  jobCtx.signal.throwIfAborted();
  const totals = planTotals(plan);
  // The finish carries no concurrency key: while it waits for the parts it must not hold one of
  // the remote's slots they need.
  await deps.queue.enqueue({
    kind: "mirror-finish",
    payload: {
      job: ctx.cfg.name, run: job.id, planned: ctx.planned, parts: partIds,
      deletes: plan.ops.flatMap((op) => (op.kind === "delete" ? [{ path: op.path, type: op.type, ...(op.partial ? { partial: true as const } : {}) }] : [])),
      mtimes: plan.ops.flatMap((op) => (op.kind === "setMtime" ? [{ path: op.path, mtimeMs: op.mtime.getTime() }] : [])),
      conflicts: [...plan.conflicts], counts: { source: outcome.counts.source, destination: destinationAfterParts(outcome.counts.destination, plan) },
      totals: { files: totals.transfers, bytes: totals.bytes, unchanged: plan.unchanged.length },
    },
    dedupeKey: finishDedupeKey(ctx.cfg.name, job.id),
  }, { coalesceWithLeased: true });
  deps.progress?.planned(job.id, totals.transfers, totals.bytes);
  log.info({ parts: parts.length, files: totals.transfers, bytes: totals.bytes, unchanged: plan.unchanged.length, deletes: totals.deletes, skipped: outcome.skipped.length },
    "mirror run planned; parts queued for any node");
  return {};
}

type Busy = "none" | "other" | "mine-enqueued" | "mine-partial";

/**
 * Whether a run of this mirror is unfinished (a part or the finish waits or runs): another
 * run's ("other"), or this job's own from an earlier attempt, fully enqueued or cut short
 * before its finish. A name's waiting rows are at most two `mirror` rows plus one run's parts
 * and finish, newest first, so the first few rows tell.
 */
async function unfinishedRun(deps: MirrorRunDeps, name: string, myId: number): Promise<Busy> {
  const rows = await deps.queue.listJobs({ name, states: ["queued", "leased", "failed"], limit: 10 });
  const run = rows.filter((r): r is typeof r & { kind: "mirror-part" | "mirror-finish" } => RUN_KINDS.has(r.kind));
  if (run.length === 0) return "none";
  if (run.some((r) => r.payload.run !== myId)) return "other";
  return run.some((r) => r.kind === "mirror-finish") ? "mine-enqueued" : "mine-partial";
}

/** Scan and plan as the single-job path does, touching nothing (a dry run). */
async function scanAndPlan(deps: MirrorRunDeps, ctx: MirrorContext, job: MirrorPlanJob, jobCtx: JobContext, state: SyncState): Promise<MirrorOutcome> {
  const { cfg, endpoint } = ctx;
  const log = deps.logger.child({ job: cfg.name, jobId: job.id, remote: cfg.remote });
  try {
    return await runMirror({
      direction: cfg.direction, localRoot: cfg.localRoot, remoteRoot: cfg.remoteRoot,
      pool: deps.remotes.syncPool(cfg.remote, jobCtx.signal), isRetriable,
      parallel: Math.min(cfg.parallel, endpoint.connections), delete: cfg.delete,
      allowEmptySource: cfg.allowEmptySource ?? false, maxDelete: cfg.maxDelete ?? parseMaxDelete(DAEMON_MAX_DELETE), names: ctx.names,
      checksum: cfg.checksum, state, dryRun: true, retry: IN_RUN_RETRY, logger: log, signal: jobCtx.signal,
      ...(cfg.listingLimits ? { listingLimits: cfg.listingLimits } : {}),
      ...(cfg.include.length + cfg.exclude.length > 0 ? { filter: createFilter({ include: cfg.include, exclude: cfg.exclude }) } : {}),
    });
  } catch (err) {
    throw retryLaterIn(err) ?? err;
  }
}

/** The plan's folders, parents first, before any part needs them. */
async function makeFolders(deps: MirrorRunDeps, ctx: MirrorContext, plan: Plan, jobCtx: JobContext): Promise<void> {
  const mkdirs = plan.ops.filter((op): op is Extract<PlanOp, { kind: "mkdir" }> => op.kind === "mkdir");
  if (mkdirs.length === 0) return;
  const { cfg } = ctx;
  let result;
  try {
    result = await executePlan({ ...plan, ops: mkdirs, conflicts: [] }, {
      localRoot: cfg.localRoot, remoteRoot: cfg.remoteRoot, pool: deps.remotes.syncPool(cfg.remote, jobCtx.signal), isRetriable,
      retry: IN_RUN_RETRY, logger: deps.logger.child({ job: cfg.name }), signal: jobCtx.signal,
    });
  } catch (err) {
    throw retryLaterIn(err) ?? err;
  }
  if (result.failed.length > 0) throw failureOf(deps, ctx, `mirror ${cfg.name}: creating folders`, result);
}

/**
 * The destination's entry counts once the run's parts succeeded: its entries at plan time plus
 * the files and folders the run creates. The finish weighs its deletions against these (the
 * deletion guard's share of the destination): the single-job path, whose first attempt refuses
 * deletions against the still empty destination, deletes on its retry against the full one; a
 * finish that ends the run must judge the destination as that retry would.
 */
function destinationAfterParts(before: { files: number; entries: number }, plan: Plan): { files: number; entries: number } {
  const newFiles = plan.ops.filter((op) => (op.kind === "upload" || op.kind === "download") && op.reason === "new").length;
  const newDirs = plan.ops.filter((op) => op.kind === "mkdir").length;
  return { files: before.files + newFiles, entries: before.entries + newFiles + newDirs };
}
