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

/** The zod schema of each job kind's payload, checked at enqueue and again at lease. */
export const payloadSchemas = {
  mirror: mirrorPayloadSchema,
  upload: uploadPayloadSchema,
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
