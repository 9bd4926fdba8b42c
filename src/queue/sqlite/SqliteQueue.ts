import type { Database } from "better-sqlite3";
import { JobControl } from "../JobControl.js";
import { JobStore, type EnqueueInput, type EnqueueOptions, type EnqueueResult, type JobStoreOptions, type JobSummary, type LeaseOptions, type LeaseResult, type RetryOutcome } from "../JobStore.js";
import type { HookDeliveries, NotificationInput, NotifyWith, Queue, QueueControl, TransferHistory } from "../Queue.js";
import { systemClock, type Job, type JobKind, type JobState, type LeaseRef, type TransferInput } from "../types.js";
import { HookTable } from "./HookTable.js";
import { SqliteMirrorStates } from "./MirrorStates.js";

/** Options of a SqliteQueue: the JobStore's, plus where the file is (for messages). */
export interface SqliteQueueOptions extends JobStoreOptions {
  /** The database path shown in messages; default the connection's file name. */
  readonly where?: string;
}

/**
 * The queue on one SQLite connection: the default driver, one box's own file. The synchronous
 * JobStore, JobControl, TransferLog and HookTable do the work; each call runs in one transaction
 * and its promise settles after it committed. Notifications handed to complete/fail are inserted
 * inside the transaction of the outcome, so both commit or neither does.
 */
export class SqliteQueue implements Queue {
  readonly driver = "sqlite" as const;
  readonly where: string;
  readonly transfers: TransferHistory;
  readonly control: QueueControl;
  readonly hooks: HookDeliveries;
  readonly mirrorStates: SqliteMirrorStates;
  // parameters
  readonly #db: Database;
  readonly #store: JobStore;
  readonly #hookTable: HookTable;
  readonly #now: () => number;

  constructor(db: Database, options: SqliteQueueOptions = {}) {
    this.#db = db;
    this.where = options.where ?? db.name;
    this.#store = new JobStore(db, options);
    const clock = options.clock ?? systemClock;
    this.#now = () => clock.now();
    this.#hookTable = new HookTable(db);
    this.transfers = transferHistory(this.#store);
    this.control = queueControl(new JobControl(db, { clock }));
    this.hooks = hookDeliveries(this.#hookTable);
    this.mirrorStates = new SqliteMirrorStates(db, this.#now);
  }

  /** The connection, for SQLite-only checks (tests, integrity_check); the daemon never uses it. */
  get database(): Database {
    return this.#db;
  }

  get leaseMs(): number {
    return this.#store.leaseMs;
  }

  async enqueue<K extends JobKind>(input: EnqueueInput<K>, options?: EnqueueOptions): Promise<EnqueueResult> {
    return this.#store.enqueue(input, options);
  }

  async lease(options: LeaseOptions): Promise<LeaseResult | null> {
    return this.#store.lease(options);
  }

  async heartbeat(lease: LeaseRef, options?: { leaseMs?: number }): Promise<number> {
    return this.#store.heartbeat(lease, options);
  }

  async complete(lease: LeaseRef, options: { transfers?: readonly TransferInput[]; notify?: NotifyWith<Job> } = {}): Promise<Job> {
    const { notify } = options;
    return this.#store.complete(lease, {
      ...(options.transfers ? { transfers: options.transfers } : {}),
      ...(notify ? { within: (done: Job) => this.#notify(notify(done)) } : {}),
    });
  }

  async fail(lease: LeaseRef, error: unknown, options: { retryable?: boolean; delayMs?: number; notify?: NotifyWith<RetryOutcome> } = {}): Promise<RetryOutcome> {
    const { notify, ...rest } = options;
    return this.#store.fail(lease, error, { ...rest, ...(notify ? { within: (outcome: RetryOutcome) => this.#notify(notify(outcome)) } : {}) });
  }

  async defer(lease: LeaseRef, options?: { delayMs?: number; reason?: string }): Promise<RetryOutcome> {
    return this.#store.defer(lease, options);
  }

  async wake(names: readonly string[]): Promise<number> {
    return this.#store.wake(names);
  }

  async recoverExpiredLeases(): Promise<RetryOutcome[]> {
    return this.#store.recoverExpiredLeases();
  }

  async prune(options: { olderThanMs: number }): Promise<{ jobs: number; transfers: number }> {
    return this.#store.prune(options);
  }

  async getJob(id: number): Promise<Job | undefined> {
    return this.#store.getJob(id);
  }

  async listJobs(filter?: { states?: readonly JobState[]; name?: string; limit?: number }): Promise<Job[]> {
    return this.#store.listJobs(filter);
  }

  async jobSummaries(): Promise<JobSummary[]> {
    return this.#store.jobSummaries();
  }

  /** Closes the connection; idempotent. Later calls reject ("The database connection is not open"). */
  async close(): Promise<void> {
    if (this.#db.open) this.#db.close();
  }

  /** Inside the outcome's transaction: the hook rows commit with it. */
  #notify(items: readonly NotificationInput[]): void {
    this.#hookTable.add(items, this.#now());
  }
}

function transferHistory(store: JobStore): TransferHistory {
  return {
    record: async (input) => store.transfers.record(input),
    list: async (filter) => store.transfers.list(filter),
    pruneBefore: async (cutoff) => store.transfers.pruneBefore(cutoff),
  };
}

function queueControl(control: JobControl): QueueControl {
  return {
    pause: async (name) => control.pause(name),
    resume: async (name) => control.resume(name),
    paused: async () => control.paused(),
    dead: async (filter) => control.dead(filter),
    retryDead: async (filter) => control.retryDead(filter),
    cancelWaiting: async (filter) => control.cancelWaiting(filter),
  };
}

function hookDeliveries(table: HookTable): HookDeliveries {
  return {
    add: async (items, now) => table.add(items, now),
    due: async (now, limit, busy) => table.due(now, limit, busy),
    nextDue: async (busy) => table.nextDue(busy),
    delivered: async (id, attempts, now) => table.delivered(id, attempts, now),
    retry: async (id, attempts, error, retryAt, now) => table.retry(id, attempts, error, retryAt, now),
    giveUp: async (id, attempts, error, now) => table.giveUp(id, attempts, error, now),
    release: async (id, now) => table.release(id, now),
    pruneBefore: async (cutoff) => table.pruneBefore(cutoff),
    list: async (filter) => table.list(filter),
    summary: async () => table.summary(),
  };
}
