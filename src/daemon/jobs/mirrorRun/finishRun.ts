import { isRetriable } from "../../../client/index.js";
import { RetryLaterError, type HandlerResult, type Job, type JobContext, type LeasedJob, type PayloadOf } from "../../../queue/index.js";
import { executePlan, type Plan, type PlanOp, type SyncState } from "../../../sync/index.js";
import { DAEMON_MAX_DELETE, deleteRefusalFor, parseMaxDelete } from "../../../sync/deleteGuard.js";
import { PermanentJobError } from "../../errors.js";
import { assertSamePlan, DEFAULT_FINISH_POLL_MS, failureOf, IN_RUN_RETRY, mirrorContext, retryLaterIn, type MirrorContext, type MirrorRunDeps } from "./context.js";

/** A leased `mirror-finish` job. */
export type MirrorFinishJob = LeasedJob & { readonly kind: "mirror-finish"; readonly payload: PayloadOf<"mirror-finish"> };
type FinishPayload = PayloadOf<"mirror-finish">;
type PartJob = Job & { readonly kind: "mirror-part" };

/** Parts named in a failure message; the rest are counted. */
const NAMED_PARTS = 5;

/**
 * The end of a distributed mirror run. While a part waits or runs, it looks again later
 * (RetryLaterError, no attempt used). When a part is dead, the run fails naming it and deletes
 * nothing. When every part is done: the time fixes, the planned deletions under the same guards
 * as the single-job path (checked again against the planned counts with the mirror's current
 * maxDelete and allowEmptySource; refused when the plan had conflicts), the sync state saved;
 * then it completes, and the run's hooks fire for it.
 */
export async function finishRun(deps: MirrorRunDeps, job: MirrorFinishJob, jobCtx: JobContext): Promise<HandlerResult> {
  const p = job.payload;
  const ctx = mirrorContext(deps, p.job);
  const what = `mirror ${ctx.cfg.name} run ${p.run}`;
  assertSamePlan(ctx, p.planned, what);
  const log = deps.logger.child({ job: ctx.cfg.name, jobId: job.id, remote: ctx.cfg.remote, run: p.run, step: "finish" });
  // One query while parts remain: a name's waiting rows are at most two `mirror` rows, this
  // finish and the run's parts. Each part is read by id only once none waits.
  const waiting = (await deps.queue.listJobs({ name: p.job, states: ["queued", "leased", "failed"], limit: p.parts.length + 3 }))
    .filter((r) => r.kind === "mirror-part" && r.payload.run === p.run).length;
  const parts = waiting > 0 ? undefined : await readParts(deps, p, what);
  if (!parts || parts.waiting > 0) {
    throw new RetryLaterError(`${what}: ${parts?.waiting ?? waiting} of ${p.parts.length} part(s) still to do`, { delayMs: deps.finishPollMs ?? DEFAULT_FINISH_POLL_MS });
  }
  const state = await deps.state.load(ctx.names.source, ctx.names.destination);
  for (const part of parts.done) {
    for (const op of part.payload.ops) if (op.srcStamp !== undefined) state.set(op.path, { size: op.size, srcStamp: op.srcStamp });
  }
  if (parts.dead.length > 0) {
    // What the done parts sent is recorded, so the next run does not send it again.
    await deps.state.save(ctx.names.source, ctx.names.destination, state);
    throw new PermanentJobError(`${what} failed: ${describeDead(parts.dead)}; nothing was deleted; the next scheduled run plans again`);
  }
  await settleRest(deps, ctx, p, state, what, jobCtx, log);
  log.info({ parts: p.parts.length, transferred: p.totals.files, bytes: p.totals.bytes, unchanged: p.totals.unchanged }, "mirror converged");
  return {};
}

/** The parts of the run: done ones (with their files), dead ones, and how many still wait or run. */
async function readParts(deps: MirrorRunDeps, p: FinishPayload, what: string): Promise<{ done: PartJob[]; dead: PartJob[]; waiting: number }> {
  const done: PartJob[] = [], dead: PartJob[] = [];
  let waiting = 0;
  for (const id of p.parts) {
    const row = await deps.queue.getJob(id);
    if (!row || row.kind !== "mirror-part" || row.payload.run !== p.run) {
      // Pruned, or cancelled by an operator: the run cannot tell what was sent.
      throw new PermanentJobError(`${what}: part job ${id} is no longer in the queue (cancelled or pruned); nothing was deleted; the next scheduled run plans again`);
    }
    if (row.state === "done") done.push(row);
    else if (row.state === "dead") dead.push(row);
    else waiting++;
  }
  return { done, dead, waiting };
}

/** "part 2 (job 17: …) and part 5 (job 20: …) failed" — the first few, then a count. */
function describeDead(dead: readonly PartJob[]): string {
  const named = dead.slice(0, NAMED_PARTS).map((j) => `part ${j.payload.part} (job ${j.id}: ${j.lastError ?? "no error recorded"})`);
  const more = dead.length > NAMED_PARTS ? ` and ${dead.length - NAMED_PARTS} more` : "";
  return `${dead.length === 1 ? "" : `${dead.length} parts failed: `}${named.join("; ")}${more}${dead.length === 1 ? " failed" : ""}`;
}

/** Time fixes, leftover partials and deletions through the engine (its guards and order), then the state. */
async function settleRest(deps: MirrorRunDeps, ctx: MirrorContext, p: FinishPayload, state: SyncState, what: string,
  jobCtx: JobContext, log: MirrorRunDeps["logger"]): Promise<void> {
  const { cfg } = ctx;
  const ops: PlanOp[] = [
    ...p.mtimes.map((m): PlanOp => ({ kind: "setMtime", path: m.path, mtime: new Date(m.mtimeMs), reason: "same content, modification time differs" })),
    ...p.deletes.map((d): PlanOp => ({ kind: "delete", path: d.path, type: d.type, reason: d.partial ? "leftover of an interrupted transfer" : "not in source", ...(d.partial ? { partial: true } : {}) })),
  ];
  const real = p.deletes.filter((d) => !d.partial).length;
  const refusal = cfg.delete ? deleteRefusalFor(real, p.counts.source, p.counts.destination, {
    sourceName: ctx.names.source, destinationName: ctx.names.destination, allowEmptySource: cfg.allowEmptySource ?? false,
    maxDelete: cfg.maxDelete ?? parseMaxDelete(DAEMON_MAX_DELETE),
  }) : undefined;
  const plan: Plan = { direction: cfg.direction, ops, unchanged: [], conflicts: p.conflicts, sourceFiles: new Set() };
  let result;
  try {
    result = await executePlan(plan, {
      localRoot: cfg.localRoot, remoteRoot: cfg.remoteRoot, pool: deps.remotes.syncPool(cfg.remote, jobCtx.signal), isRetriable,
      parallel: Math.min(cfg.parallel, ctx.endpoint.connections), retry: IN_RUN_RETRY, delete: cfg.delete,
      filtered: cfg.include.length + cfg.exclude.length > 0, ...(refusal !== undefined ? { deleteRefusal: refusal } : {}),
      logger: log, signal: jobCtx.signal,
    });
  } catch (err) {
    throw retryLaterIn(err) ?? err;
  }
  for (const path of result.deleted) state.delete(path);
  await deps.state.save(ctx.names.source, ctx.names.destination, state);
  if (result.failed.length === 0) return;
  const failure = failureOf(deps, ctx, what, result);
  if (failure instanceof RetryLaterError) throw failure;
  // Another try of the finish would repeat deletions already made; the next run plans afresh.
  throw new PermanentJobError(`${failure.message}; the next scheduled run plans again`, { cause: failure.cause ?? failure });
}
