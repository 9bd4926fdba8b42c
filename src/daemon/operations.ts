import type { JobState } from "../queue/index.js";
import type { Activity } from "./activity.js";
import type { ResolvedConfig } from "./config.js";
import type { JobActions } from "./jobActions.js";
import type { DaemonStatus } from "./status.js";

/** A remote as the API and the metrics show it (never its password). */
export interface RemoteView {
  readonly name: string;
  /** The URL without its password. */
  readonly url: string;
  readonly reachable: boolean;
  readonly loginRefused: boolean;
  readonly connections: number;
  readonly maxConnections: number;
  readonly since: string | null;
  readonly lastError: string | null;
}

/** Whether the daemon can take work, and why not. */
export type Readiness = { readonly ready: true } | { readonly ready: false; readonly reason: string };

/**
 * The running daemon as its HTTP surface sees it: what `ferry status` reads, what is running
 * now, and the operator's actions. The http module reaches the daemon only through this.
 */
export interface DaemonOperations {
  readonly config: ResolvedConfig;
  readonly activity: Activity;
  readonly actions: JobActions;
  ready(): Promise<Readiness>;
  /** What `ferry status --json` prints. */
  status(): Promise<DaemonStatus>;
  remotes(): RemoteView[];
  /** Runs in the queue by state, over all jobs. */
  queueDepth(): Promise<Record<JobState, number>>;
  /** Texts no response may contain (remote passwords, the token): the last line of defence of the API. */
  secrets(): readonly string[];
}
