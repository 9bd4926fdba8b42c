import { stat } from "node:fs/promises";
import { isDeepStrictEqual } from "node:util";
import { ConfigError } from "../config/index.js";
import type { MirrorJob, ResolvedConfig, UploadJob } from "./config.js";

/**
 * Every upload job's watch folder exists and is a folder; otherwise a ConfigError names each
 * missing one and the fix. A typo in `watch` used to create an empty folder nobody writes
 * to, and the job idled forever.
 */
export async function checkWatchFolders(config: Pick<ResolvedConfig, "file" | "uploads">): Promise<void> {
  const problems: string[] = [];
  for (const job of config.uploads) {
    const st = await stat(job.watch).catch((err: NodeJS.ErrnoException) => err);
    if (st instanceof Error) {
      problems.push(st.code === "ENOENT"
        ? `job ${job.name}: watch folder ${job.watch} does not exist; create it (mkdir -p ${job.watch}) or fix the path in the config`
        : `job ${job.name}: watch folder ${job.watch} cannot be read (${st.code ?? st.message}); fix its permissions or the path`);
    } else if (!st.isDirectory()) problems.push(`job ${job.name}: watch ${job.watch} is not a folder; point watch at a folder`);
  }
  if (problems.length > 0) throw new ConfigError(config.file, problems);
}

/** What a SIGHUP reload changes, worked out before anything is touched. */
export interface ReloadPlan {
  /** Upload jobs whose watcher stops (removed or changed). */
  readonly stopWatching: readonly UploadJob[];
  /** Upload jobs whose watcher starts (added or changed). */
  readonly startWatching: readonly UploadJob[];
  /** Whether the mirrors' schedules must be rebuilt. */
  readonly mirrorsChanged: boolean;
  /** Job names added, removed and changed, for the log. */
  readonly added: readonly string[];
  readonly removed: readonly string[];
  readonly changed: readonly string[];
  /** Settings that changed but apply only at the next start (named for the log). */
  readonly needRestart: readonly string[];
}

/** The settings a running daemon cannot swap: the queue, its workers and pools, the embedded server. */
const RESTART_ONLY = ["database", "workers", "maxAttempts", "backoff", "localBackoff", "loginBackoff", "spaceCheckMs", "leaseMs", "graceMs", "server"] as const;

/**
 * Compare the running config with a new one. Jobs, hooks, log level and retention apply live;
 * a job that names a remote the running daemon does not have is refused (the pools are built
 * at start), as is a new config whose watch folders are missing: a ConfigError names why, and
 * the running config stays.
 */
export async function planReload(current: ResolvedConfig, next: ResolvedConfig): Promise<ReloadPlan> {
  const remotes = new Map(current.remotes.map((r) => [r.name, r]));
  const problems: string[] = [];
  for (const job of [...next.uploads, ...next.mirrors]) {
    if (!remotes.has(job.remote)) problems.push(`job ${job.name}: remote "${job.remote}" is new; adding a remote needs a restart of the daemon`);
  }
  if (problems.length > 0) throw new ConfigError(next.file, problems);
  await checkWatchFolders(next);
  const needRestart: string[] = RESTART_ONLY.filter((k) => !isDeepStrictEqual(current[k], next[k]));
  for (const r of next.remotes) {
    const old = remotes.get(r.name);
    if (old && !isDeepStrictEqual(old, r)) needRestart.push(`remotes.${r.name}`);
  }
  const diff = <J extends UploadJob | MirrorJob>(a: readonly J[], b: readonly J[]) => {
    const before = new Map(a.map((j) => [j.name, j]));
    const after = new Map(b.map((j) => [j.name, j]));
    return {
      added: b.filter((j) => !before.has(j.name)),
      removed: a.filter((j) => !after.has(j.name)),
      changed: b.filter((j) => before.has(j.name) && !isDeepStrictEqual(before.get(j.name), j)),
      before,
    };
  };
  const up = diff(current.uploads, next.uploads);
  const mir = diff(current.mirrors, next.mirrors);
  const names = (js: readonly { name: string }[]) => js.map((j) => j.name);
  return {
    stopWatching: [...up.removed, ...up.changed.map((j) => up.before.get(j.name)!)],
    startWatching: [...up.added, ...up.changed],
    mirrorsChanged: mir.added.length + mir.removed.length + mir.changed.length > 0,
    added: names([...up.added, ...mir.added]),
    removed: names([...up.removed, ...mir.removed]),
    changed: names([...up.changed, ...mir.changed]),
    needRestart,
  };
}

/** The new config, with the settings that apply only at start kept at their running values. */
export function keepRestartOnly(current: ResolvedConfig, next: ResolvedConfig): ResolvedConfig {
  const kept: Partial<Record<(typeof RESTART_ONLY)[number], unknown>> = {};
  for (const k of RESTART_ONLY) kept[k] = current[k];
  return { ...next, ...(kept as Partial<ResolvedConfig>), stateDir: current.stateDir, remotes: current.remotes } as ResolvedConfig;
}
