// A mirror run split into parts any node may lease (issue 16 part 2): `mirror` plans,
// `mirror-part` transfers a batch of files, `mirror-finish` deletes and saves the state once
// every part succeeded. How the daemon wires it: see createMirrorRunHandlers.
import type { HandlerResult, JobContext, JobHandler } from "../../../queue/index.js";
import type { QueueDriverName } from "../../../queue/Queue.js";
import type { MirrorRunDeps } from "./context.js";
import { isDistributed } from "./distribute.js";
import { finishRun } from "./finishRun.js";
import { planRun, type MirrorPlanJob } from "./planRun.js";
import { runPart } from "./runPart.js";

export { DEFAULT_FINISH_POLL_MS, type MirrorRunDeps } from "./context.js";
export { isDistributed, type DistributeMode } from "./distribute.js";
export type { MirrorStateStore } from "./MirrorStateStore.js";
export { DatabaseMirrorStateStore, type DatabaseMirrorStateStoreOptions } from "./DatabaseMirrorStateStore.js";
export { DEFAULT_PART_LIMITS, splitIntoParts, type PartLimits } from "./parts.js";
export type { MirrorPlanJob } from "./planRun.js";
export type { MirrorPartJob } from "./runPart.js";
export type { MirrorFinishJob } from "./finishRun.js";

/** The handlers of a distributed mirror run. */
export interface MirrorRunHandlers {
  readonly "mirror-part": JobHandler<"mirror-part">;
  readonly "mirror-finish": JobHandler<"mirror-finish">;
  /** The plan step, run for a `mirror` job when the mirror is distributed (mirrorHandlerFor chooses). */
  readonly plan: (job: MirrorPlanJob, context: JobContext) => Promise<HandlerResult>;
}

/**
 * The handlers of distributed mirror runs. The daemon registers "mirror-part" and
 * "mirror-finish" as handlers of those kinds, and serves `mirror` jobs with
 * mirrorHandlerFor(single, plan): the single-job handler or the plan step, per mirror.
 */
export function createMirrorRunHandlers(deps: MirrorRunDeps): MirrorRunHandlers {
  return {
    "mirror-part": (job, ctx) => runPart(deps, job, ctx),
    "mirror-finish": (job, ctx) => finishRun(deps, job, ctx),
    plan: (job, ctx) => planRun(deps, job, ctx),
  };
}

/**
 * The `mirror` handler that runs each mirror the way its `distribute` setting and the queue's
 * driver say (isDistributed): a plan step on a shared queue, today's single job otherwise.
 * The choice is made per run, so a config reload that flips `distribute` takes effect at the
 * next run; a mirror that left the config goes to the single handler, which says so.
 */
export function mirrorHandlerFor(options: {
  readonly jobs: MirrorRunDeps["jobs"];
  readonly driver: QueueDriverName;
  readonly single: JobHandler<"mirror">;
  readonly plan: MirrorRunHandlers["plan"];
}): JobHandler<"mirror"> {
  return (job, ctx) => {
    const cfg = options.jobs.get(job.payload.job);
    return cfg && isDistributed(cfg, options.driver) ? options.plan(job, ctx) : options.single(job, ctx);
  };
}
