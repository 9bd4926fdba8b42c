import { isAbsolute, resolve, sep } from "node:path";
import cron from "node-cron";
import { z } from "zod";
import { DAEMON_MAX_DELETE, parseMaxDelete } from "../sync/deleteGuard.js";
import { bandwidthField } from "./bandwidth.js";
import { duration } from "./duration.js";
import { healthcheckSchema, hookSchema } from "./hooksSchema.js";
import { serverSchema } from "./serverSchema.js";
import { httpSchema } from "./httpSchema.js";

export { parseDuration } from "./duration.js";

/** A side of a job: "REMOTE:/path" names a configured remote; anything else is a local path. */
export type JobSide = { readonly remote: string; readonly path: string } | { readonly local: string };

const REMOTE_NAME = /^[A-Za-z][A-Za-z0-9_-]*$/;

/**
 * Read a job's source or target. "NAME:PATH" (NAME a remote name, PATH absolute or relative to
 * the remote URL's folder) is remote; a path that could be mistaken for one must start with "./".
 */
export function parseJobSide(text: string): JobSide {
  const m = /^([A-Za-z][A-Za-z0-9_-]*):(?!\/\/)(.*)$/.exec(text);
  return m ? { remote: m[1]!, path: m[2]! } : { local: text };
}

const globList = (what: string) =>
  z.array(z.string().trim().min(1, "an empty glob matches nothing useful; give a pattern such as \"*.log\"")).default([]).describe(what);

/** One FTP server the jobs talk to, named once and referred to as NAME:/path. */
export const remoteSchema = z.strictObject({
  url: z.string().describe("ftp://, ftpes:// (explicit TLS) or ftps:// (implicit TLS) user@host:port/folder; the folder is the base of relative job paths").superRefine((url, ctx) => {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      ctx.addIssue({ code: "custom", message: "not a URL; expected ftp://user@host:port/" });
      return;
    }
    if (!["ftp:", "ftps:", "ftpes:"].includes(parsed.protocol)) {
      ctx.addIssue({ code: "custom", message: `unsupported scheme "${parsed.protocol.slice(0, -1)}"; use ftp://, ftpes:// or ftps://` });
    } else if (parsed.hostname === "") ctx.addIssue({ code: "custom", message: "no host; expected ftp://user@host:port/" });
  }),
  password: z.string().optional().describe('login password, usually "${VAR}" from the environment; overrides one in the URL'),
  connections: z.number().int().min(1).max(64).default(2).describe("most connections open to this remote at once (and jobs running against it); default 2"),
  ca: z.string().refine((p) => isAbsolute(p), "must be an absolute path to a PEM file").optional()
    .describe("PEM CA (or self-signed certificate) trusted for this ftps/ftpes remote, as an absolute path; default the system CAs"),
  insecure: z.boolean().optional().describe("do not verify this ftps/ftpes remote's certificate (logged as a warning); default false"),
  bwlimit: bandwidthField("bandwidth limit shared by every transfer to and from this remote (within the global bwlimit, if any)"),
}).superRefine((r, ctx) => {
  const tls = /^ftpe?s:/i.test(r.url);
  if (!tls && (r.ca !== undefined || r.insecure)) ctx.addIssue({ code: "custom", path: ["ca"], message: "ca and insecure apply to ftps:// and ftpes:// URLs only" });
  if (r.ca !== undefined && r.insecure) ctx.addIssue({ code: "custom", path: ["insecure"], message: "ca and insecure together make no sense: pick one" });
});

const jobName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "letters, digits, '.', '_' and '-', starting with a letter or digit")
  .describe("unique name; shown by `ferry status`");

/** A mirror on a cron schedule: local folder → REMOTE:/path (upload) or the reverse (download). */
export const mirrorJobSchema = z.strictObject({
  name: jobName,
  kind: z.literal("mirror"),
  source: z.string().min(1).describe("a local folder, or REMOTE:/path to download from"),
  target: z.string().min(1).describe("REMOTE:/path to upload to, or a local folder"),
  schedule: z.string().superRefine((expr, ctx) => {
    const v = cron.validateDetailed(expr);
    if (!v.valid) {
      ctx.addIssue({ code: "custom", message: `not a valid cron expression: ${v.errors.map((e) => `${e.field}: ${e.message}`).join("; ")} (e.g. "*/10 * * * *"; a sixth leading field gives seconds)` });
    }
  }).describe('cron expression in local time, e.g. "*/10 * * * *" (every 10 minutes); 6 fields add seconds. ' +
    "Across DST (node-cron's rules): a time inside the hour skipped in spring does not run that day, and the hour repeated " +
    "in autumn runs once; pick times outside 02:00-03:00, or run the daemon with TZ=UTC, for runs that must never be skipped"),
  catchUp: z.boolean().default(true).describe("run once at start when a scheduled run was missed while the daemon was down (or it never ran); default true"),
  delete: z.boolean().default(false).describe("delete target entries the source lacks, only after an error-free run; default false"),
  allowEmptySource: z.boolean().default(false)
    .describe("with delete: delete even when the source holds no files (an empty listing is refused by default, as a server that lost its mount sends one); default false"),
  maxDelete: z.union([z.number().int().min(0), z.string()]).default(DAEMON_MAX_DELETE).transform((v, ctx) => {
    try {
      return parseMaxDelete(v);
    } catch (err) {
      ctx.addIssue({ code: "custom", message: (err as Error).message });
      return z.NEVER;
    }
  }).describe(`with delete: refuse a run that would delete more than this many entries, or this share of the target's entries ("50%"); "100%" lifts the limit; default ${DAEMON_MAX_DELETE}`),
  verify: z.enum(["size", "checksum"]).default("size")
    .describe('how unchanged files are recognised: "size" (size and mtime) or "checksum" (where the server can hash); transfers are always verified; default size'),
  include: globList("only files matching these globs (a glob without / matches the name at any depth)"),
  exclude: globList("leave out files and folders matching these globs"),
  parallel: z.number().int().min(1).max(64).default(4).describe("transfers at once (capped by the remote's connections); default 4"),
  distribute: z.enum(["auto", "on", "off"]).default("auto")
    .describe('split each run into parts any node sharing the queue may take (a plan job, transfer parts, a finish that deletes only after every part succeeded): ' +
      '"on", "off", or "auto" (default: on only when `database` is a shared Postgres queue; one box on SQLite keeps one job per run). ' +
      "A distributed download needs the local folder to be the same shared folder on every node"),
  // Listing caps (FAULTS B8): a hostile or broken server cannot make a scan endless or huge.
  maxEntries: z.number().int().min(1).optional().describe("refuse a remote tree with more entries than this; default 2000000"),
  maxDirEntries: z.number().int().min(1).optional().describe("refuse a remote folder with more entries than this; default 200000"),
  maxDepth: z.number().int().min(1).optional().describe("refuse a remote tree deeper than this many folders; default 100"),
  hooks: z.array(hookSchema).default([]).describe("hooks for this job's events (and its remote's); see the top-level hooks"),
  healthcheck: healthcheckSchema.optional().describe("healthchecks.io-style pings when a run starts, succeeds or fails"),
});

/** What happens to an outbox file after its verified upload. */
export const afterSchema = z.union([
  z.enum(["keep", "delete"]),
  z.strictObject({ move: z.string().min(1).describe("folder the file is moved into (created if missing)") }),
]).default("keep").describe('after a verified upload: "keep" (default), "delete", or { move: FOLDER }');

/** A watched outbox: each file, once stable, is uploaded exactly once to REMOTE:/path. */
export const uploadJobSchema = z.strictObject({
  name: jobName,
  kind: z.literal("upload"),
  watch: z.string().min(1).describe("local folder to watch (it must exist: a missing one is an error at start); files already there at start are uploaded too"),
  target: z.string().min(1).describe("REMOTE:/path of the folder the files go to"),
  stable: duration("a file is ready when its size and mtime stayed unchanged this long", "2s", 0, 3_600_000),
  marker: z.string().regex(/^\.[^/\\]+$/, 'a suffix starting with ".", e.g. ".done"').optional()
    .describe('also require a marker file NAME+marker (e.g. "report.csv.done") before NAME is uploaded; the marker is removed afterwards'),
  ignore: globList("extra names to ignore; hidden names (.*) and temporary names (*.tmp, *.part, *.partial, *.swp, *~, *.crdownload) are always ignored"),
  recursive: z.boolean().default(false).describe("also watch subfolders, recreating them under the target; default false"),
  rescan: duration("also list the folder this often and queue any new or changed file the watcher did not report (a missed event, a network filesystem); 0: never", "30s", 0, 86_400_000),
  after: afterSchema,
  hooks: z.array(hookSchema).default([]).describe("hooks for this job's events (and its remote's); see the top-level hooks"),
  healthcheck: healthcheckSchema.optional().describe("healthchecks.io-style pings when a run starts, succeeds or fails"),
});

/** One job of the daemon, by kind. */
export const jobSchema = z.discriminatedUnion("kind", [mirrorJobSchema, uploadJobSchema], {
  error: (issue) => (issue.code === "invalid_union" ? 'kind must be "mirror" or "upload"' : undefined),
});

/** Retries of failed jobs: exponential backoff with jitter, then `dead`. */
export const retrySchema = z.strictObject({
  attempts: z.number().int().min(1).max(1000).default(10).describe("attempts before a failing job goes dead; default 10 (an unreachable remote does not use attempts)"),
  initialDelay: duration("delay before the first retry", "1s", 0),
  maxDelay: duration("longest delay between retries (also for an unreachable remote)", "5m", 1),
  jitter: z.number().min(0).max(1).default(0.2).describe("fraction by which delays are spread either way; default 0.2"),
  localDelay: duration("a job whose local side is full, read-only or unwritable waits this long first (no attempt used), doubling", "1m", 0),
  localMaxDelay: duration("longest wait of such a job", "15m", 1),
  spaceCheck: duration("while a local disk is full, its free space is checked this often (one statfs) and the waiting jobs run as soon as room returns; 0 turns the check off", "2s", 0),
  loginDelay: duration("after a refused login (530), the remote's next login try waits this long (no attempt used), doubling", "1m", 0),
  loginMaxDelay: duration("longest wait between login tries of a remote that refuses the login", "30m", 1),
});

const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;

/** Where the queue lives: a SQLite path, or a postgres:// URL naming a host and a database. */
const databaseSchema = z.string().min(1).default("./var/ferry.db")
  .describe("the queue: a SQLite file (default ./var/ferry.db, one box), or postgres://user@host:port/db to share it between several nodes (the password from ${VAR} or PGPASSWORD, not in the file)")
  .superRefine((text, ctx) => {
    if (!/^postgres(ql)?:/i.test(text)) return;
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      ctx.addIssue({ code: "custom", message: "not a URL; expected postgres://user@host:5432/ferry" });
      return;
    }
    if (!text.includes("//")) ctx.addIssue({ code: "custom", message: "expected postgres://user@host:5432/ferry" });
    else if (url.hostname === "" && !url.searchParams.has("host")) ctx.addIssue({ code: "custom", message: "no host; expected postgres://user@host:5432/ferry" });
    else if (url.pathname.replace(/^\//, "") === "") ctx.addIssue({ code: "custom", message: "no database name; expected postgres://user@host:5432/ferry" });
  });

/** What a node may be called: it is the prefix of every lease it holds ("node:pid:worker-N"). */
const nodeSchema = z.string()
  .min(1, "empty; give this daemon a name such as its host name")
  .max(63, "longer than 63 characters")
  .regex(/^[^\s\p{Cc}:]+$/u, "no whitespace, control characters or \":\" (it prefixes lease owners as node:pid:worker-N)")
  .optional()
  .describe("this daemon's name among the nodes sharing a Postgres queue (lease owners, `ferry status`); default the host name");

/** The daemon's config file (config/ferry.example.yaml shows every field); relative paths are relative to the file. */
export const daemonConfigSchema = z.strictObject({
  database: databaseSchema,
  node: nodeSchema,
  workers: z.number().int().min(1).max(256).default(4).describe("mirror jobs run at once across all remotes (outbox uploads stream over each remote's connections beside them, up to 4 files per connection); default 4"),
  logLevel: z.enum(LOG_LEVELS).default("info").describe("pino level; FERRY_LOG_LEVEL overrides; default info"),
  retry: retrySchema.prefault({}).describe("retry policy of failed jobs"),
  leaseTimeout: duration("a running job is given back to the queue when its worker is silent this long", "30s", 1000, 3_600_000),
  retention: duration("finished jobs and transfer history are kept this long", "7d", 60_000),
  shutdownGrace: duration("on SIGINT/SIGTERM, running transfers get this long to finish", "10s", 0, 3_600_000),
  bwlimit: bandwidthField("bandwidth limit shared by every transfer of the daemon; a remote's own bwlimit can only be tighter"),
  remotes: z.record(z.string(), remoteSchema).default({})
    .describe("FTP servers by name; jobs refer to them as NAME:/path"),
  jobs: z.array(jobSchema).min(1, "no jobs: add at least one mirror or upload job").describe("what the daemon does"),
  server: serverSchema.optional()
    .describe("an embedded FTP server started with the daemon (same fields as `ferry serve --config`, tls included)"),
  hooks: z.array(hookSchema).default([])
    .describe("hooks for every job's and remote's events: run a command or POST a webhook, with a timeout and retries; kept in the queue until delivered"),
  http: httpSchema.optional()
    .describe("the daemon's HTTP API, /metrics, /healthz, /readyz and dashboard; off when absent"),
}).superRefine((cfg, ctx) => crossCheck(cfg as unknown as Loose, ctx), { when: () => true });

/** A validated daemon config (defaults applied, durations in ms, paths still as written). */
export type DaemonConfig = z.output<typeof daemonConfigSchema>;
/** One job of a DaemonConfig. */
export type JobConfig = DaemonConfig["jobs"][number];
/** A mirror job. */
export type MirrorJobConfig = z.output<typeof mirrorJobSchema>;
/** An upload job. */
export type UploadJobConfig = z.output<typeof uploadJobSchema>;
/** A remote. */
export type RemoteConfig = z.output<typeof remoteSchema>;

/** The config as the cross-field check sees it: fields may still be of the wrong type. */
interface Loose {
  remotes?: unknown;
  jobs?: unknown;
  server?: unknown;
}

/**
 * Checks that span fields, run even when other fields failed so every problem is listed at
 * once: unique job names, NAME:/path sides naming a defined remote, one remote and one local
 * side per job, outboxes not watched twice or moved into themselves, a server with users.
 */
function crossCheck(cfg: Loose, ctx: z.RefinementCtx): void {
  const remotes = cfg.remotes && typeof cfg.remotes === "object" ? Object.keys(cfg.remotes) : [];
  const jobs = Array.isArray(cfg.jobs) ? (cfg.jobs as Record<string, unknown>[]) : [];
  const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: "custom", path, message });
  const known = remotes.length > 0 ? `defined remotes: ${remotes.join(", ")}` : "no remotes are defined: add one under remotes:";
  const side = (i: number, field: string): JobSide | undefined => {
    const text = jobs[i]?.[field];
    if (typeof text !== "string" || text === "") return undefined;
    if (/^[a-z]+:\/\//i.test(text)) {
      issue(["jobs", i, field], `a URL is not allowed here: define the server under remotes: and write NAME:/path`);
      return undefined;
    }
    const s = parseJobSide(text);
    if ("remote" in s && !remotes.includes(s.remote)) issue(["jobs", i, field], `unknown remote "${s.remote}" (${known})`);
    return s;
  };
  for (const name of remotes) {
    if (!REMOTE_NAME.test(name)) issue(["remotes", name], "a remote name is a letter then letters, digits, '_' or '-'");
  }
  const names = new Map<string, number>();
  const watched = new Map<string, number>();
  jobs.forEach((job, i) => {
    if (!job || typeof job !== "object") return;
    if (typeof job.name === "string") {
      const first = names.get(job.name);
      if (first !== undefined) issue(["jobs", i, "name"], `duplicate job name "${job.name}" (also jobs[${first}].name)`);
      else names.set(job.name, i);
    }
    if (job.kind === "mirror") {
      const src = side(i, "source");
      const dst = side(i, "target");
      if (src && dst && "local" in src && "local" in dst) issue(["jobs", i, "target"], "both sides are local: one of source and target must be REMOTE:/path");
      if (src && dst && "remote" in src && "remote" in dst) issue(["jobs", i, "target"], "both sides are remote: one of source and target must be a local folder");
    } else if (job.kind === "upload") {
      const dst = side(i, "target");
      if (dst && "local" in dst) issue(["jobs", i, "target"], `expected REMOTE:/path (${known}), not a local path`);
      if (typeof job.watch === "string") {
        if (/^[a-z]+:\/\//i.test(job.watch) || "remote" in parseJobSide(job.watch)) issue(["jobs", i, "watch"], "must be a local folder");
        const w = resolve("/", job.watch);
        const first = watched.get(w);
        if (first !== undefined) issue(["jobs", i, "watch"], `folder already watched by jobs[${first}]`);
        else watched.set(w, i);
        const after = job.after as { move?: unknown } | undefined;
        if (after && typeof after === "object" && typeof after.move === "string") {
          const m = resolve("/", after.move);
          const inside = m === w || (job.recursive === true && m.startsWith(w + sep));
          if (inside) issue(["jobs", i, "after", "move"], "must be outside the watched folder, or moved files would be uploaded again");
        }
      }
    }
  });
  const server = cfg.server as { users?: unknown; anonymous?: unknown } | undefined;
  if (server && typeof server === "object" && Array.isArray(server.users) && server.users.length === 0 && (server.anonymous ?? false) === false) {
    issue(["server", "users"], "no users and anonymous is off: nobody could log in; add users (passwordHash from `ferry hash-password`) or anonymous: rw");
  }
}
