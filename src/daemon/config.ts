import type { ListingLimits } from "../sync/remote.js";
import { hostname } from "node:os";
import { dirname, join, posix, resolve } from "node:path";
import { readFile } from "node:fs/promises";
import {
  ConfigError, daemonConfigSchema, parseConfig, parseConfigText, parseConfigWithoutSecrets, parseJobSide, parseListen, type DaemonConfig, type MirrorJobConfig, type ServerConfig, type UploadJobConfig,
} from "../config/index.js";
import type { BackoffPolicy } from "../queue/index.js";
import type { MaxDelete } from "../sync/deleteGuard.js";
import type { BandwidthConfig } from "./bandwidth.js";
import { remoteEndpoint, type RemoteEndpoint } from "./remotes.js";
import { resolveHooks, type ResolvedHook } from "./hooks/resolve.js";

/** What to do with an outbox file after its verified upload. */
export type AfterAction = { readonly kind: "keep" } | { readonly kind: "delete" } | { readonly kind: "move"; readonly dir: string };

/** An upload job with absolute local paths and its remote resolved. */
export interface UploadJob {
  readonly kind: "upload";
  readonly name: string;
  readonly remote: string;
  /** Remote folder the files go to. */
  readonly remoteDir: string;
  /** Absolute local folder watched. */
  readonly watch: string;
  readonly stableMs: number;
  /** How often the folder is listed as well, for events the watcher missed; 0 or absent: never. */
  readonly rescanMs?: number;
  readonly marker?: string;
  readonly ignore: readonly string[];
  readonly recursive: boolean;
  readonly after: AfterAction;
}

/** A mirror job with absolute local paths and its remote resolved. */
export interface MirrorJob {
  readonly kind: "mirror";
  readonly name: string;
  readonly remote: string;
  readonly remoteRoot: string;
  readonly localRoot: string;
  /** upload: local → remote; download: remote → local. */
  readonly direction: "upload" | "download";
  readonly schedule: string;
  readonly catchUp: boolean;
  readonly delete: boolean;
  /** With delete: allow deleting when the source holds no files (default false); see sync/deleteGuard.ts. */
  readonly allowEmptySource?: boolean;
  /** With delete: the most deletions per run (default DAEMON_MAX_DELETE). */
  readonly maxDelete?: MaxDelete;
  readonly checksum: boolean;
  readonly include: readonly string[];
  readonly exclude: readonly string[];
  readonly parallel: number;
  /** Split runs into parts any node may lease: "auto" (default: only on a shared Postgres queue), "on", "off"; see jobs/mirrorRun/distribute.ts. */
  readonly distribute?: "auto" | "on" | "off";
  /** Caps on the remote scan (maxEntries, maxDirEntries, maxDepth of the job); defaults when absent. */
  readonly listingLimits?: ListingLimits;
}

/** The daemon's config, ready to run: paths absolute (relative to the config file), durations in ms. */
export interface ResolvedConfig {
  readonly file: string;
  /** The queue: an absolute SQLite path, or a postgres:// URL (may hold a password: show it through redactUrl). */
  readonly database: string;
  /** This daemon's name (config `node:`, default the host name): lease owners are `${node}:${pid}:worker-N`. */
  readonly node: string;
  /** Where this node's local files go: the lock (SQLite) and the health file are `${localBase}.lock` / `.remotes.json`. The SQLite path itself, or <config dir>/var/ferry-NODE with Postgres. */
  readonly localBase: string;
  /** Folder of per-mirror sync state, beside the database (with Postgres, in <config dir>/var/). */
  readonly stateDir: string;
  /** Things the daemon says at start (a literal password in the database URL). */
  readonly warnings: readonly string[];
  readonly workers: number;
  readonly logLevel: string;
  readonly maxAttempts: number;
  readonly backoff: BackoffPolicy;
  /** Waits of a job whose local side is full, read-only or unwritable. */
  readonly localBackoff: BackoffPolicy;
  /** How often a full local disk is checked for space, in ms (0: never). */
  readonly spaceCheckMs: number;
  /** Waits of a remote that refused the login. */
  readonly loginBackoff: BackoffPolicy;
  readonly leaseMs: number;
  readonly retentionMs: number;
  readonly graceMs: number;
  readonly remotes: readonly RemoteEndpoint[];
  /** The global and per-remote `bwlimit` texts (validated). */
  readonly bandwidth: BandwidthConfig;
  readonly uploads: readonly UploadJob[];
  readonly mirrors: readonly MirrorJob[];
  readonly server?: ServerConfig;
  /** Every hook and healthcheck, top-level ones first. */
  readonly hooks: readonly ResolvedHook[];
  /** The HTTP surface; absent when off. */
  readonly http?: { readonly host: string; readonly port: number; readonly token?: string };
}

/** Load, validate (ConfigError listing every problem) and resolve a daemon config file. */
export async function loadDaemonConfig(file: string, env: NodeJS.ProcessEnv = process.env): Promise<ResolvedConfig> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new ConfigError(file, [`cannot read the file: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`], { cause: err });
  }
  const resolved = resolveDaemonConfig(file, parseConfig(file, text, daemonConfigSchema, env));
  const written = (parseConfigText(file, text) as { database?: unknown } | null)?.database;
  const warning = typeof written === "string" ? literalPasswordWarning(written) : undefined;
  return warning ? { ...resolved, warnings: [...resolved.warnings, warning] } : resolved;
}

/** A warning when the database URL as written in the file carries a password (not from ${VAR}). */
export function literalPasswordWarning(written: string): string | undefined {
  if (!/^postgres(ql)?:\/\//i.test(written)) return undefined;
  const userinfo = /^[^:]+:\/\/([^@/]*)@/.exec(written)?.[1];
  const inUser = userinfo !== undefined && userinfo.includes(":") && !/\$\{[^}]+\}/.test(userinfo.slice(userinfo.indexOf(":") + 1));
  const inQuery = /[?&]password=(?!\$\{)/i.test(written);
  if (!inUser && !inQuery) return undefined;
  return "database: the Postgres URL holds a password written in the config file; write postgres://user:${FERRY_DB_PASSWORD}@host/db (the variable set in the service's environment or a credentials file), or leave it out and set PGPASSWORD";
}

/** The fields `ferry status` cannot read without: where the database is, and what each job is. */
const STATUS_NEEDS = new Set(["name", "kind", "watch", "source", "target", "schedule"]);

/**
 * loadDaemonConfig for `ferry status`, which needs the paths, not the passwords: an unset ${VAR}
 * in a password, a secret or a URL gets a stand-in instead of an error; one in the database
 * path or a job's folders still fails. Returns the unset variables' names too.
 */
export async function loadDaemonConfigWithoutSecrets(file: string, env: NodeJS.ProcessEnv = process.env): Promise<{ config: ResolvedConfig; unset: readonly string[] }> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new ConfigError(file, [`cannot read the file: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`], { cause: err });
  }
  const needed = (path: readonly PropertyKey[]): boolean =>
    path[0] === "database" || (path[0] === "jobs" && path.length === 3 && STATUS_NEEDS.has(String(path[2])));
  const { data, unset } = parseConfigWithoutSecrets(file, text, daemonConfigSchema, env, needed);
  return { config: resolveDaemonConfig(file, data), unset };
}

/** Turn a validated config into absolute paths and resolved remotes. */
export function resolveDaemonConfig(file: string, cfg: DaemonConfig): ResolvedConfig {
  const base = dirname(resolve(file));
  const abs = (p: string) => resolve(base, p);
  const remotes = Object.entries(cfg.remotes).map(([name, r]) => remoteEndpoint(name, r));
  const byName = new Map(remotes.map((r) => [r.name, r]));
  const remotePath = (name: string, path: string): string => {
    const baseDir = byName.get(name)?.basePath ?? ".";
    if (path.startsWith("/")) return posix.normalize(path);
    if (path === "" || path === ".") return baseDir;
    return baseDir === "." ? posix.normalize(path) : posix.join(baseDir, path);
  };
  const uploads: UploadJob[] = [];
  const mirrors: MirrorJob[] = [];
  for (const job of cfg.jobs) {
    if (job.kind === "upload") uploads.push(resolveUpload(job, abs, remotePath));
    else mirrors.push(resolveMirror(job, abs, remotePath));
  }
  const postgres = /^postgres(ql)?:\/\//i.test(cfg.database);
  const database = postgres ? cfg.database : abs(cfg.database);
  const node = cfg.node ?? hostname();
  const localBase = postgres ? abs(join("var", `ferry-${node}`)) : database;
  return {
    file: resolve(file), database, node, localBase, stateDir: join(dirname(localBase), "state"), warnings: [],
    workers: cfg.workers, logLevel: cfg.logLevel, maxAttempts: cfg.retry.attempts,
    backoff: { baseMs: cfg.retry.initialDelay, capMs: Math.max(cfg.retry.maxDelay, cfg.retry.initialDelay), jitter: cfg.retry.jitter },
    localBackoff: { baseMs: cfg.retry.localDelay, capMs: Math.max(cfg.retry.localMaxDelay, cfg.retry.localDelay), jitter: cfg.retry.jitter },
    spaceCheckMs: cfg.retry.spaceCheck,
    loginBackoff: { baseMs: cfg.retry.loginDelay, capMs: Math.max(cfg.retry.loginMaxDelay, cfg.retry.loginDelay), jitter: cfg.retry.jitter },
    leaseMs: cfg.leaseTimeout, retentionMs: cfg.retention, graceMs: cfg.shutdownGrace,
    remotes, uploads, mirrors,
    bandwidth: {
      ...(cfg.bwlimit !== undefined ? { global: cfg.bwlimit } : {}),
      remotes: Object.fromEntries(Object.entries(cfg.remotes).flatMap(([name, r]) => (r.bwlimit !== undefined ? [[name, r.bwlimit]] : []))),
    },
    hooks: resolveHooks(cfg.hooks, cfg.jobs, (job) => (job.kind === "upload" ? remoteSide(job.target) : "remote" in parseJobSide(job.source) ? remoteSide(job.source) : remoteSide(job.target)).remote),
    ...(cfg.http ? { http: { ...parseListen(cfg.http.listen)!, ...(cfg.http.token !== undefined ? { token: cfg.http.token } : {}) } } : {}),
    ...(cfg.server ? {
      server: {
        ...cfg.server, root: abs(cfg.server.root), users: cfg.server.users.map((u) => (u.root ? { ...u, root: abs(u.root) } : u)),
        ...(cfg.server.tls ? { tls: { ...cfg.server.tls, cert: abs(cfg.server.tls.cert), key: abs(cfg.server.tls.key) } } : {}),
      },
    } : {}),
  };
}

type Resolver = (name: string, path: string) => string;

function remoteSide(text: string): { remote: string; path: string } {
  const side = parseJobSide(text);
  // The schema's cross-check guarantees the side is remote; a local side here is a bug.
  if (!("remote" in side)) throw new Error(`internal: ${text} is not REMOTE:/path`);
  return side;
}

function resolveUpload(job: UploadJobConfig, abs: (p: string) => string, remotePath: Resolver): UploadJob {
  const target = remoteSide(job.target);
  const after: AfterAction = typeof job.after === "string" ? { kind: job.after } : { kind: "move", dir: abs(job.after.move) };
  return {
    kind: "upload", name: job.name, remote: target.remote, remoteDir: remotePath(target.remote, target.path),
    watch: abs(job.watch), stableMs: job.stable, rescanMs: job.rescan, ...(job.marker ? { marker: job.marker } : {}),
    ignore: job.ignore, recursive: job.recursive, after,
  };
}

function resolveMirror(job: MirrorJobConfig, abs: (p: string) => string, remotePath: Resolver): MirrorJob {
  const src = parseJobSide(job.source);
  const direction = "remote" in src ? "download" : "upload";
  const remote = remoteSide(direction === "upload" ? job.target : job.source);
  const local = direction === "upload" ? job.source : job.target;
  return {
    kind: "mirror", name: job.name, remote: remote.remote, remoteRoot: remotePath(remote.remote, remote.path),
    localRoot: abs(local), direction,
    schedule: job.schedule, catchUp: job.catchUp, delete: job.delete, allowEmptySource: job.allowEmptySource, maxDelete: job.maxDelete, checksum: job.verify === "checksum",
    include: job.include, exclude: job.exclude, parallel: job.parallel, distribute: job.distribute,
    listingLimits: {
      ...(job.maxEntries ? { maxEntries: job.maxEntries } : {}), ...(job.maxDirEntries ? { maxDirEntries: job.maxDirEntries } : {}),
      ...(job.maxDepth ? { maxDepth: job.maxDepth } : {}),
    },
  };
}
