import { isAbsolute } from "node:path";
import { z } from "zod";

/** Every state a job row can be in; `done` and `dead` are final. */
export const JOB_STATES = ["queued", "leased", "done", "failed", "dead"] as const;
/** A job's state: queued (waiting), leased (a worker holds it), failed (waiting for its retry), done, dead. */
export type JobState = (typeof JOB_STATES)[number];

/** Payload of a `mirror` job: which configured mirror to run. */
export const mirrorPayloadSchema = z.strictObject({
  job: z.string().min(1).describe("the config job name"),
});

/** Payload of an `upload` job: one stable file found in a watched outbox. */
export const uploadPayloadSchema = z.strictObject({
  job: z.string().min(1).describe("the config job name"),
  path: z
    .string()
    .min(1)
    .refine((p) => isAbsolute(p), "must be an absolute local path")
    .refine((p) => !p.includes("\0"), "must not contain NUL")
    .describe("absolute local path of the file to upload"),
  size: z.number().int().nonnegative().describe("size in bytes when the file was found stable"),
  mtimeMs: z.number().nonnegative().describe("mtime in ms since epoch when the file was found stable"),
});

/** A path relative to a mirror's roots, as plans carry it ("a/b.txt"): never absolute, never climbing out. */
const mirrorRelPath = z
  .string()
  .min(1)
  .refine((p) => !p.startsWith("/") && !p.split("/").includes("..") && !p.includes("\0"), "must be a relative path inside the mirror (no leading /, no .., no NUL)");

/** What a distributed run was planned against; a part or finish whose mirror changed since refuses to run. */
export const mirrorPlannedSchema = z.strictObject({
  remote: z.string().min(1),
  direction: z.enum(["upload", "download"]),
  localRoot: z.string().min(1),
  remoteRoot: z.string().min(1),
});

/** One file a `mirror-part` copies: the fields of the plan's TransferOp that executePlan needs. */
export const mirrorPartOpSchema = z.strictObject({
  path: mirrorRelPath,
  size: z.number().int().nonnegative(),
  mtimeMs: z.number().optional().describe("the source's mtime, set on the destination after publishing"),
  srcStamp: z.string().optional().describe("the source's stamp, recorded in the sync state by the finish"),
  reason: z.string().describe("why the plan sends it"),
  resumeFrom: z.number().int().positive().optional().describe("bytes of a leftover partial file to resume from"),
});

/**
 * Payload of a `mirror-part` job: a batch of one distributed mirror run's transfers that any
 * node may lease (issue 16). It never changes between attempts: a retry does the same files.
 */
export const mirrorPartPayloadSchema = z.strictObject({
  job: z.string().min(1).describe("the config job name"),
  run: z.number().int().positive().describe("the id of the mirror job that planned the run"),
  part: z.number().int().nonnegative().describe("the part's index in the run, from 0"),
  planned: mirrorPlannedSchema,
  ops: z.array(mirrorPartOpSchema).min(1).max(10_000),
  /** Entries each destination folder of these ops held at scan time (upload batches list a folder only when that is cheap). */
  listed: z.record(z.string(), z.number().int().nonnegative()).optional(),
});

/** Entry counts of one side of a planned run, for the deletion guards (deleteGuard.ts). */
const entryCountsSchema = z.strictObject({ files: z.number().int().nonnegative(), entries: z.number().int().nonnegative() });

/**
 * Payload of a `mirror-finish` job: waits for a distributed run's parts, then (all done) runs
 * the planned deletions and time fixes and saves the sync state, or (a part dead) fails the run.
 */
export const mirrorFinishPayloadSchema = z.strictObject({
  job: z.string().min(1).describe("the config job name"),
  run: z.number().int().positive().describe("the id of the mirror job that planned the run"),
  planned: mirrorPlannedSchema,
  /** The part jobs' ids, in part order. */
  parts: z.array(z.number().int().positive()),
  deletes: z.array(z.strictObject({ path: mirrorRelPath, type: z.enum(["file", "dir"]), partial: z.literal(true).optional() })),
  mtimes: z.array(z.strictObject({ path: mirrorRelPath, mtimeMs: z.number() })),
  /** Names that are a file on one side and a folder on the other (plan.conflicts): the run fails on them. */
  conflicts: z.array(z.strictObject({ path: z.string(), reason: z.string() })),
  counts: z.strictObject({ source: entryCountsSchema, destination: entryCountsSchema }),
  totals: z.strictObject({ files: z.number().int().nonnegative(), bytes: z.number().int().nonnegative(), unchanged: z.number().int().nonnegative() }),
});

/** The zod schema of each job kind's payload, checked at enqueue and again at lease. */
export const payloadSchemas = {
  mirror: mirrorPayloadSchema,
  upload: uploadPayloadSchema,
  "mirror-part": mirrorPartPayloadSchema,
  "mirror-finish": mirrorFinishPayloadSchema,
} as const;

/** The kinds of job the queue knows. */
export type JobKind = keyof typeof payloadSchemas;
/** All job kinds, in a stable order. */
export const JOB_KINDS = Object.keys(payloadSchemas) as JobKind[];
/** The payload type of kind K. */
export type PayloadOf<K extends JobKind> = z.infer<(typeof payloadSchemas)[K]>;

/** A job row, with its payload parsed. */
export interface JobBase<K extends JobKind> {
  readonly id: number;
  readonly kind: K;
  /** The config job name (payload.job). */
  readonly name: string;
  readonly dedupeKey: string | null;
  readonly concurrencyKey: string | null;
  /** The only node that may lease it (an outbox upload stays with the node that has the file); null: any node. */
  readonly node: string | null;
  readonly payload: PayloadOf<K>;
  readonly state: JobState;
  /** Leases taken so far; a lease counts as an attempt, a deferral gives it back. */
  readonly attempts: number;
  readonly maxAttempts: number;
  /** Not leasable before this time (ms since epoch). */
  readonly runAfter: number;
  readonly leaseOwner: string | null;
  readonly leaseToken: string | null;
  readonly leaseExpiresAt: number | null;
  readonly lastError: string | null;
  readonly lastErrorAt: number | null;
  readonly createdAt: number;
  readonly updatedAt: number;
  /** When the job reached `done` or `dead`. */
  readonly finishedAt: number | null;
}

/** A job of any kind, discriminated by `kind`. */
export type Job = { [K in JobKind]: JobBase<K> }[JobKind];

/** A job held by a worker: its token must accompany heartbeat, complete, fail and defer. */
export type LeasedJob = Job & { readonly state: "leased"; readonly leaseToken: string; readonly leaseExpiresAt: number };

/** The part of a lease that later writes check (`WHERE id = ? AND lease_token = ?`). */
export interface LeaseRef {
  readonly id: number;
  readonly leaseToken: string;
}

/** One finished file transfer, for the history `ferry status` shows. */
export const transferInputSchema = z.strictObject({
  path: z.string().min(1).describe("the file's path (remote or local, as the job reports it)"),
  bytes: z.number().int().nonnegative(),
  durationMs: z.number().int().nonnegative(),
  verified: z.string().min(1).describe('how the copy was checked: a hash name such as "sha256", or "size"'),
});
/** What a handler reports about one file it transferred. */
export type TransferInput = z.infer<typeof transferInputSchema>;

/** A row of the transfer history. */
export interface Transfer extends TransferInput {
  readonly id: number;
  /** Null once the job row was pruned. */
  readonly jobId: number | null;
  readonly jobName: string;
  readonly finishedAt: number;
}

/** Time source and timers, injected so tests control time. */
export interface Clock {
  /** Current time in ms since epoch. */
  now(): number;
  /** Run fn after ms; returns a function that cancels it. */
  setTimer(fn: () => void, ms: number): () => void;
}

/** The real clock: Date.now and setTimeout. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(fn, ms) {
    const handle = setTimeout(fn, ms);
    return () => clearTimeout(handle);
  },
};
