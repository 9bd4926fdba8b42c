import { existsSync, statfsSync } from "node:fs";
import { dirname } from "node:path";
import { isPostgresUrl, openQueue, redactUrl, type HookDelivery, type JobState, type Transfer } from "../queue/index.js";
import type { ResolvedConfig } from "./config.js";
import { healthHolder, readHealth } from "./health.js";
import { queueFullMessage } from "./queueTrouble.js";
import { lockHolder } from "./lock.js";
import { nextScheduledRun } from "./scheduler.js";
import type { NodeView } from "./statusNodes.js";

/** A hook notification as `ferry status` shows it. */
export interface HookDeliveryView {
  readonly hook: string;
  readonly event: string;
  readonly job: string | null;
  readonly attempts: number;
  readonly lastError: string | null;
  /** When it is tried again (pending ones). */
  readonly nextAttemptAt: string | null;
  readonly createdAt: string;
}

/** Hook notifications: how many wait, which are failing, which were given up. */
export interface HooksStatus {
  readonly pending: number;
  readonly retrying: readonly HookDeliveryView[];
  readonly gaveUp: readonly HookDeliveryView[];
  readonly gaveUpCount: number;
}

/** One job as `ferry status` shows it. */
export interface JobStatus {
  readonly name: string;
  readonly kind: "mirror" | "upload";
  /** running, retrying (a failed attempt waits), queued, ok (last run done), dead (last run gave up), idle (never ran). */
  readonly state: "running" | "retrying" | "queued" | "ok" | "dead" | "idle";
  /** The remote and folder, e.g. "backup:/photos". */
  readonly target: string;
  readonly lastSuccessAt: string | null;
  readonly lastError: string | null;
  readonly lastErrorAt: string | null;
  /** Mirrors: the next cron time. Uploads: null (they run when a file is stable). */
  readonly nextRunAt: string | null;
  readonly counts: Readonly<Record<JobState, number>>;
  readonly recentTransfers: readonly { path: string; bytes: number; durationMs: number; verified: string; finishedAt: string }[];
  /** Set while the running daemon cannot reach this job's remote, or the remote refuses the login (its jobs wait without using attempts). */
  readonly remoteDown: RemoteDownView | null;
  /** Set while this job waits because its local side is full, read-only or unwritable (no attempts used). */
  readonly localProblem: LocalProblemView | null;
  /** When an operator paused the job (`ferry jobs pause`, the API); null when it is not paused. */
  readonly pausedAt: string | null;
}

/** A job's local side that cannot be written, as `ferry status` shows it. */
export interface LocalProblemView {
  readonly job: string;
  /** "disk-full", "read-only", "permission", … */
  readonly condition: string;
  /** "local disk full: /data/x" */
  readonly summary: string;
  readonly path: string;
  /** The full message with its fix. */
  readonly message: string;
  readonly since: string;
  readonly failures: number;
  readonly retryAt: string;
}

/** An unreachable remote, as `ferry status` shows it. */
export interface RemoteDownView {
  readonly remote: string;
  /** "unreachable", or "login refused" (a 530: wrong user or password; the server's reply is in lastError). */
  readonly reason: string;
  readonly since: string;
  readonly failures: number;
  readonly retryAt: string;
  readonly lastError: string;
}

/** What `ferry status` reports. */
export interface DaemonStatus {
  readonly config: string;
  /** The SQLite path, or the Postgres URL without its password. */
  readonly database: string;
  /** The pid of the running daemon (of this node, with Postgres), or null when none runs. */
  readonly daemonPid: number | null;
  readonly jobs: readonly JobStatus[];
  /** Remotes the running daemon cannot reach or that refuse its login. */
  readonly remotesDown: readonly RemoteDownView[];
  /** Jobs waiting for their local side (disk full, read-only, permission). */
  readonly localProblems: readonly LocalProblemView[];
  /** Set when the queue database cannot take writes (its volume is full): new jobs are refused meanwhile. */
  readonly queueProblem: string | null;
  /** Hook notifications waiting, failing or given up. */
  readonly hooks: HooksStatus;
  /** With a Postgres queue: every node of the fleet, lost ones flagged. Absent on a single box. */
  readonly nodes?: readonly NodeView[];
}

const iso = (ms: number | null | undefined) => (ms === null || ms === undefined ? null : new Date(ms).toISOString());
const NO_HOOKS: HooksStatus = { pending: 0, retrying: [], gaveUp: [], gaveUpCount: 0 };
const ZERO: Record<JobState, number> = { queued: 0, leased: 0, done: 0, failed: 0, dead: 0 };

/**
 * Read the queue (a SQLite file read-only, so it works beside a running daemon thanks to WAL)
 * and summarise each configured job. A SQLite file that does not exist yet means nothing ran.
 */
export async function collectStatus(config: ResolvedConfig, options: { now?: number; recent?: number } = {}): Promise<DaemonStatus> {
  const now = options.now ?? Date.now();
  const postgres = isPostgresUrl(config.database);
  // SQLite: the lock names the daemon. Postgres has no lock (several nodes share it): this
  // node's daemon is the live writer of its health file.
  const pid = (postgres ? healthHolder(config.localBase) : lockHolder(config.database)) ?? null;
  const jobs = [...config.mirrors, ...config.uploads];
  const health = pid === null ? { troubled: [], local: [], queue: null } : readHealth(config.localBase, pid);
  const remotesDown: RemoteDownView[] = health.troubled.map((t) => ({
    remote: t.name, reason: t.reason ?? "unreachable", since: iso(t.since)!, failures: t.failures, retryAt: iso(t.retryAt)!, lastError: t.lastError,
  }));
  const localProblems: LocalProblemView[] = health.local.map((l) => ({
    job: l.job, condition: l.condition, summary: `${l.summary}: ${l.path}`, path: l.path, message: l.message,
    since: iso(l.since)!, failures: l.failures, retryAt: iso(l.retryAt)!,
  }));
  const database = redactUrl(config.database);
  const queueProblem = health.queue?.message ?? (!postgres && pid !== null && volumeFull(config.database) ? queueFullMessage(config.database) : null);
  const downOf = (remote: string) => remotesDown.find((r) => r.remote === remote) ?? null;
  const localOf = (job: string) => localProblems.find((l) => l.job === job) ?? null;
  if (!postgres && !existsSync(config.database)) {
    return { config: config.file, database, daemonPid: pid, remotesDown, localProblems, queueProblem, hooks: NO_HOOKS, jobs: jobs.map((j) => ({
      name: j.name, kind: j.kind, state: "idle", target: targetOf(j), lastSuccessAt: null, lastError: null, lastErrorAt: null,
      nextRunAt: j.kind === "mirror" ? iso(nextScheduledRun(j, now)) : null, counts: ZERO, recentTransfers: [], remoteDown: downOf(j.remote), localProblem: localOf(j.name), pausedAt: null,
    })) };
  }
  const queue = await openQueue({ database: config.database, readonly: true });
  try {
    const nodes = postgres ? { nodes: await (await import("./statusNodes.js")).listFleetNodes(config.database, config.leaseMs) } : {};
    const summaries = new Map((await queue.jobSummaries()).map((s) => [s.name, s]));
    const hooks = await queue.hooks.summary();
    const paused = new Map((await queue.control.paused()).map((p) => [p.name, p.pausedAt]));
    return {
      config: config.file, database, daemonPid: pid, remotesDown, localProblems, queueProblem, ...nodes,
      hooks: { pending: hooks.pending, retrying: hooks.retrying.map(deliveryView), gaveUp: hooks.gaveUp.map(deliveryView), gaveUpCount: hooks.gaveUpCount },
      jobs: await Promise.all(jobs.map(async (j): Promise<JobStatus> => {
        const s = summaries.get(j.name);
        const counts = s?.counts ?? ZERO;
        const last = (await queue.listJobs({ name: j.name, states: ["done", "dead"], limit: 1 }))[0];
        const state: JobStatus["state"] = counts.leased > 0 ? "running" : counts.failed > 0 ? "retrying" : counts.queued > 0 ? "queued"
          : last?.state === "dead" ? "dead" : last ? "ok" : "idle";
        const transfers = await queue.transfers.list({ jobName: j.name, limit: options.recent ?? 5 });
        return {
          name: j.name, kind: j.kind, state, target: targetOf(j),
          lastSuccessAt: iso(s?.lastSuccessAt), lastError: s?.lastError ?? null, lastErrorAt: iso(s?.lastErrorAt),
          nextRunAt: j.kind === "mirror" ? iso(nextScheduledRun(j, now)) : iso(s?.nextRunAt),
          counts, recentTransfers: transfers.map(transferView), remoteDown: downOf(j.remote), localProblem: localOf(j.name),
          pausedAt: iso(paused.get(j.name)),
        };
      })),
    };
  } finally {
    await queue.close();
  }
}

/**
 * Whether the database's volume has (almost) no room left: the daemon may not be able to say
 * so itself (its health file lives on the same volume), so status looks directly.
 */
function volumeFull(database: string): boolean {
  try {
    const s = statfsSync(dirname(database));
    return s.bavail * s.bsize < 64 * 1024;
  } catch {
    return false;
  }
}

function targetOf(j: ResolvedConfig["mirrors"][number] | ResolvedConfig["uploads"][number]): string {
  if (j.kind === "upload") return `${j.watch} → ${j.remote}:${j.remoteDir}`;
  const remote = `${j.remote}:${j.remoteRoot}`;
  return j.direction === "upload" ? `${j.localRoot} → ${remote}` : `${remote} → ${j.localRoot}`;
}

function transferView(t: Transfer) {
  return { path: t.path, bytes: t.bytes, durationMs: t.durationMs, verified: t.verified, finishedAt: new Date(t.finishedAt).toISOString() };
}

function deliveryView(d: HookDelivery): HookDeliveryView {
  return {
    hook: d.hook, event: d.event, job: d.jobName, attempts: d.attempts, lastError: d.lastError,
    nextAttemptAt: d.state === "pending" ? iso(d.nextAttemptAt) : null, createdAt: iso(d.createdAt)!,
  };
}
