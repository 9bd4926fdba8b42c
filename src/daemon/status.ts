import { existsSync } from "node:fs";
import { JobStore, openDatabase, type JobState, type Transfer } from "../queue/index.js";
import type { ResolvedConfig } from "./config.js";
import { readRemoteHealth } from "./health.js";
import { lockHolder } from "./lock.js";
import { nextScheduledRun } from "./scheduler.js";

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
  /** Set while the running daemon cannot reach this job's remote (its jobs wait without using attempts). */
  readonly remoteDown: RemoteDownView | null;
}

/** An unreachable remote, as `ferry status` shows it. */
export interface RemoteDownView {
  readonly remote: string;
  readonly since: string;
  readonly failures: number;
  readonly retryAt: string;
  readonly lastError: string;
}

/** What `ferry status` reports. */
export interface DaemonStatus {
  readonly config: string;
  readonly database: string;
  /** The pid of the running daemon, or null when none holds the database. */
  readonly daemonPid: number | null;
  readonly jobs: readonly JobStatus[];
  /** Remotes the running daemon cannot reach. */
  readonly remotesDown: readonly RemoteDownView[];
}

const iso = (ms: number | null | undefined) => (ms === null || ms === undefined ? null : new Date(ms).toISOString());
const ZERO: Record<JobState, number> = { queued: 0, leased: 0, done: 0, failed: 0, dead: 0 };

/**
 * Read the queue database (read-only, so it works beside a running daemon thanks to WAL) and
 * summarise each configured job. A database that does not exist yet means nothing ran.
 */
export function collectStatus(config: ResolvedConfig, options: { now?: number; recent?: number } = {}): DaemonStatus {
  const now = options.now ?? Date.now();
  const pid = lockHolder(config.database) ?? null;
  const jobs = [...config.mirrors, ...config.uploads];
  const remotesDown: RemoteDownView[] = (pid === null ? [] : readRemoteHealth(config.database, pid)).map((t) => ({
    remote: t.name, since: iso(t.since)!, failures: t.failures, retryAt: iso(t.retryAt)!, lastError: t.lastError,
  }));
  const downOf = (remote: string) => remotesDown.find((r) => r.remote === remote) ?? null;
  if (!existsSync(config.database)) {
    return { config: config.file, database: config.database, daemonPid: pid, remotesDown, jobs: jobs.map((j) => ({
      name: j.name, kind: j.kind, state: "idle", target: targetOf(j), lastSuccessAt: null, lastError: null, lastErrorAt: null,
      nextRunAt: j.kind === "mirror" ? iso(nextScheduledRun(j, now)) : null, counts: ZERO, recentTransfers: [], remoteDown: downOf(j.remote),
    })) };
  }
  const db = openDatabase(config.database, { readonly: true });
  try {
    const store = new JobStore(db);
    const summaries = new Map(store.jobSummaries().map((s) => [s.name, s]));
    return {
      config: config.file, database: config.database, daemonPid: pid, remotesDown,
      jobs: jobs.map((j): JobStatus => {
        const s = summaries.get(j.name);
        const counts = s?.counts ?? ZERO;
        const last = store.listJobs({ name: j.name, states: ["done", "dead"], limit: 1 })[0];
        const state: JobStatus["state"] = counts.leased > 0 ? "running" : counts.failed > 0 ? "retrying" : counts.queued > 0 ? "queued"
          : last?.state === "dead" ? "dead" : last ? "ok" : "idle";
        const transfers = store.transfers.list({ jobName: j.name, limit: options.recent ?? 5 });
        return {
          name: j.name, kind: j.kind, state, target: targetOf(j),
          lastSuccessAt: iso(s?.lastSuccessAt), lastError: s?.lastError ?? null, lastErrorAt: iso(s?.lastErrorAt),
          nextRunAt: j.kind === "mirror" ? iso(nextScheduledRun(j, now)) : iso(s?.nextRunAt),
          counts, recentTransfers: transfers.map(transferView), remoteDown: downOf(j.remote),
        };
      }),
    };
  } finally {
    db.close();
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
