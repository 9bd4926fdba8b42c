import { causeChain } from "../../../protocol/index.js";
import type { Logger } from "../../../log/index.js";
import { RetryLaterError, type PayloadOf } from "../../../queue/index.js";
import type { Queue } from "../../../queue/Queue.js";
import type { ExecuteResult } from "../../../sync/index.js";
import type { BandwidthLimits } from "../../bandwidth.js";
import type { MirrorJob } from "../../config.js";
import { PermanentJobError } from "../../errors.js";
import type { RemoteEndpoint, RemoteRegistry } from "../../remotes.js";
import type { TransferProgress } from "../../activity.js";
import type { TransferredFile } from "../../hooks/index.js";
import type { MirrorStateStore } from "./MirrorStateStore.js";
import type { PartLimits } from "./parts.js";

/** What the handlers of a distributed mirror run need. */
export interface MirrorRunDeps {
  readonly jobs: ReadonlyMap<string, MirrorJob>;
  readonly remotes: Pick<RemoteRegistry, "endpoint" | "syncPool" | "downFor">;
  /** The queue, whichever driver: the plan enqueues and looks for a run in progress, the finish reads its parts. */
  readonly queue: Pick<Queue, "enqueue" | "listJobs" | "getJob">;
  readonly state: MirrorStateStore;
  /** Folder of the partial files' source identities (the daemon's state folder). */
  readonly recordsDir: string;
  readonly logger: Logger;
  readonly bandwidth?: BandwidthLimits;
  /** Told of the files a part published, failed part or not, before it completes (hooks: at least once). */
  readonly onTransferred?: (job: string, files: readonly TransferredFile[]) => void;
  readonly progress?: TransferProgress;
  /** How big a part may grow; default DEFAULT_PART_LIMITS (100 files, 256 MiB). */
  readonly partLimits?: PartLimits;
  /** How long a finish waits before looking at its parts again, in ms; default 5000. */
  readonly finishPollMs?: number;
}

/** What a distributed run was planned against (a part or finish refuses to run once the mirror changed). */
export type Planned = PayloadOf<"mirror-part">["planned"];

/** How long a finish waits before looking at its parts again, unless the deps say otherwise. */
export const DEFAULT_FINISH_POLL_MS = 5000;

/** Retries inside one part stay short: the queue's backoff handles longer trouble (as the single-job path). */
export const IN_RUN_RETRY = { attempts: 3, baseMs: 250, capMs: 2000 };

/** A mirror of the config, with the names its sync state is filed under. */
export interface MirrorContext {
  readonly cfg: MirrorJob;
  readonly endpoint: RemoteEndpoint;
  /** Source and destination as the single-job path names them (same state file either way). */
  readonly names: { readonly source: string; readonly destination: string };
  readonly planned: Planned;
}

/** The mirror `name` of the config, or a PermanentJobError (the job left the config). */
export function mirrorContext(deps: MirrorRunDeps, name: string): MirrorContext {
  const cfg = deps.jobs.get(name);
  if (!cfg) throw new PermanentJobError(`mirror job "${name}" is no longer in the config`);
  const endpoint = deps.remotes.endpoint(cfg.remote);
  const remoteName = `${endpoint.display.replace(/\/+$/, "")}/${cfg.remoteRoot}`;
  const [source, destination] = cfg.direction === "upload" ? [cfg.localRoot, remoteName] : [remoteName, cfg.localRoot];
  return {
    cfg, endpoint, names: { source, destination },
    planned: { remote: cfg.remote, direction: cfg.direction, localRoot: cfg.localRoot, remoteRoot: cfg.remoteRoot },
  };
}

/** Refuses (PermanentJobError) to carry on a run planned against another remote, direction or folders. */
export function assertSamePlan(ctx: MirrorContext, planned: Planned, what: string): void {
  const changed = (Object.keys(planned) as (keyof Planned)[]).filter((k) => planned[k] !== ctx.planned[k]);
  if (changed.length === 0) return;
  throw new PermanentJobError(
    `${what}: the mirror "${ctx.cfg.name}" changed since the run was planned (${changed.map((k) => `${k}: ${planned[k]} → ${ctx.planned[k]}`).join(", ")}); ` +
      "the next scheduled run plans again",
  );
}

/** The RetryLaterError somewhere in an error's cause chain (the sync engine wraps errors). */
export function retryLaterIn(err: unknown): RetryLaterError | undefined {
  for (const e of causeChain(err)) if (e instanceof RetryLaterError) return e;
  return undefined;
}

/**
 * The error a run with failed operations ends with: RetryLaterError when the remote counts as
 * down (no attempt used, as the single-job path), else an Error whose cause is the typed
 * failure that stopped the run (so the daemon defers a full local disk without parsing text).
 */
export function failureOf(deps: MirrorRunDeps, ctx: MirrorContext, what: string, result: ExecuteResult): Error {
  const first = result.failed[0]!;
  const summary = `${what}: ${result.failed.length} operation(s) failed, ${result.transferred.length} file(s) transferred; first: ` +
    `${first.path === "" ? "" : `${first.path}: `}${first.error}`;
  const down = deps.remotes.downFor(ctx.cfg.remote);
  if (down) return new RetryLaterError(`remote ${ctx.cfg.remote} unreachable: ${summary}`, { delayMs: down.ms });
  return new Error(summary, result.stoppedBy ? { cause: result.stoppedBy } : {});
}

/** The dedupe key of part `index` of run `run`: a retried plan never enqueues a waiting part twice. */
export function partDedupeKey(name: string, run: number, index: number): string {
  return `mirror-part:${name}:${run}:${index}`;
}

/** The dedupe key of a run's finish. */
export function finishDedupeKey(name: string, run: number): string {
  return `mirror-finish:${name}:${run}`;
}
