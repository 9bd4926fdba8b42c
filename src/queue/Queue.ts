// The queue as the daemon sees it, whichever database holds it (issue 16): SQLite, one box's
// own file (the default), or Postgres, shared by several nodes. Both drivers keep the same
// semantics and pass the same test suite (test/queue/); every method is one transaction.
import type { HookFacts } from "../daemon/hooks/facts.js";
import type { MirrorStates } from "./MirrorStates.js";
import type { EnqueueInput, EnqueueOptions, EnqueueResult, JobSummary, LeaseOptions, LeaseResult, RetryOutcome } from "./JobStore.js";
import type { PausedJob } from "./JobControl.js";
import type { TransferRecord } from "./TransferLog.js";
import type { Job, JobKind, JobState, LeaseRef, Transfer, TransferInput } from "./types.js";

/** A hook notification to store in the same transaction as the outcome that caused it. */
export interface NotificationInput {
  /** The hook's id in the config. */
  readonly hook: string;
  readonly facts: HookFacts;
}

/** Computes, from the row as it is about to be committed, the notifications to store with it. */
export type NotifyWith<T> = (settled: T) => readonly NotificationInput[];

/** A notification waiting for (or done with) its delivery. */
export interface HookDelivery {
  readonly id: number;
  readonly hook: string;
  readonly event: HookFacts["event"];
  readonly jobName: string | null;
  readonly facts: HookFacts;
  readonly state: "pending" | "delivered" | "failed";
  /** Tries so far. */
  readonly attempts: number;
  readonly nextAttemptAt: number;
  readonly lastError: string | null;
  readonly createdAt: number;
}

/** What `ferry status` shows about hooks. */
export interface HookSummary {
  readonly pending: number;
  /** Pending notifications whose last try failed, oldest first (at most 10). */
  readonly retrying: readonly HookDelivery[];
  /** Notifications given up within the history kept, newest first (at most 10), and their count. */
  readonly gaveUp: readonly HookDelivery[];
  readonly gaveUpCount: number;
}

/** The transfer history. */
export interface TransferHistory {
  record(input: TransferRecord): Promise<Transfer>;
  list(filter?: { jobName?: string; jobId?: number; limit?: number }): Promise<Transfer[]>;
  pruneBefore(cutoff: number): Promise<number>;
}

/** What an operator does by hand (`ferry jobs …`, the HTTP API); never touches a lease. */
export interface QueueControl {
  /** False when it was already paused. */
  pause(name: string): Promise<boolean>;
  /** False when it was not paused. */
  resume(name: string): Promise<boolean>;
  paused(): Promise<PausedJob[]>;
  dead(filter?: { name?: string; limit?: number }): Promise<Job[]>;
  retryDead(filter?: { id?: number }): Promise<{ retried: number[]; folded: { id: number; into: number }[] }>;
  cancelWaiting(filter: { name: string; id?: number }): Promise<Job[]>;
}

/** The `hook_deliveries` table: notifications taken in order per hook. */
export interface HookDeliveries {
  add(items: readonly NotificationInput[], now: number): Promise<void>;
  due(now: number, limit: number, busy: ReadonlySet<string>): Promise<HookDelivery[]>;
  nextDue(busy?: ReadonlySet<string>): Promise<number | undefined>;
  delivered(id: number, attempts: number, now: number): Promise<void>;
  retry(id: number, attempts: number, error: string, retryAt: number, now: number): Promise<void>;
  giveUp(id: number, attempts: number, error: string, now: number): Promise<void>;
  /** Hands a taken notification back untried (a stopping daemon cut it short): due again at `now`. */
  release(id: number, now: number): Promise<void>;
  pruneBefore(cutoff: number): Promise<number>;
  list(filter?: { hook?: string; limit?: number }): Promise<HookDelivery[]>;
  summary(): Promise<HookSummary>;
}

/** Which database holds the queue. */
export type QueueDriverName = "sqlite" | "postgres";

/**
 * The durable job queue. Lease semantics: a lease is guarded by its token (every later write
 * checks `id AND lease_token`, else LeaseLostError); a lease not renewed by heartbeat within
 * leaseMs expires and recoverExpiredLeases() returns the job (a dead node's jobs come back).
 */
export interface Queue {
  readonly driver: QueueDriverName;
  /** Where it lives, for messages: the SQLite path, or the Postgres URL without its password. */
  readonly where: string;
  /** The default lease duration in ms. */
  readonly leaseMs: number;
  enqueue<K extends JobKind>(input: EnqueueInput<K>, options?: EnqueueOptions): Promise<EnqueueResult>;
  lease(options: LeaseOptions): Promise<LeaseResult | null>;
  /** Renews the lease; returns the new expiry. LeaseLostError when the token no longer holds it. */
  heartbeat(lease: LeaseRef, options?: { leaseMs?: number }): Promise<number>;
  complete(lease: LeaseRef, options?: { transfers?: readonly TransferInput[]; notify?: NotifyWith<Job> }): Promise<Job>;
  fail(lease: LeaseRef, error: unknown, options?: { retryable?: boolean; delayMs?: number; notify?: NotifyWith<RetryOutcome> }): Promise<RetryOutcome>;
  /** Puts the job back without using an attempt. */
  defer(lease: LeaseRef, options?: { delayMs?: number; reason?: string }): Promise<RetryOutcome>;
  wake(names: readonly string[]): Promise<number>;
  recoverExpiredLeases(): Promise<RetryOutcome[]>;
  prune(options: { olderThanMs: number }): Promise<{ jobs: number; transfers: number }>;
  getJob(id: number): Promise<Job | undefined>;
  listJobs(filter?: { states?: readonly JobState[]; name?: string; limit?: number }): Promise<Job[]>;
  jobSummaries(): Promise<JobSummary[]>;
  readonly transfers: TransferHistory;
  readonly control: QueueControl;
  readonly hooks: HookDeliveries;
  /** Each mirror's sync state (path → size, stamp, hash), shared by every node of the queue. */
  readonly mirrorStates: MirrorStates;
  /** Closes the connection(s); later calls reject. */
  close(): Promise<void>;
}
