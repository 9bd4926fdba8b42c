// The durable job queue: open the database, store jobs, run workers. Every call is async (the
// Postgres driver is); SQLite is the default driver, the synchronous JobStore underneath.
//
//   const queue = await openQueue({ database: config.database, maxAttempts: 5 });  // a path → SQLite, postgres:// → Postgres
//   await queue.enqueue({ kind: "upload", payload, dedupeKey: `upload:${job}:${path}`, concurrencyKey: remote });
//   await queue.enqueue({ kind: "mirror", payload: { job } , dedupeKey: `mirror:${job}` }, { coalesceWithLeased: true });
//   const runner = new WorkerRunner(queue, { concurrency: config.workers, keyLimits: { backup: 4 }, handlers: { mirror, upload } });
//   runner.on("job:dead", ({ job }) => ...); runner.start();      // start() recovers expired leases first
//   runner.notify();                                               // after an enqueue, to skip the poll wait
//   await runner.stop(graceMs);                                    // SIGINT/SIGTERM
//   await queue.prune({ olderThanMs: retention }); await queue.jobSummaries(); await queue.transfers.list({ jobName })  // housekeeping, `ferry status`
//
// States: queued → leased → done | failed (waits for its retry, then leased again) | dead.
// A handler returns { transfers } to have them recorded in the transaction that completes the job;
// it throws to fail (retry with backoff, then dead), or throws RetryLaterError to defer without
// using an attempt. Its AbortSignal fires when stop's grace runs out or the lease was lost.
export type { Queue, QueueControl, TransferHistory, HookDeliveries, HookDelivery, HookSummary, NotificationInput, NotifyWith, QueueDriverName } from "./Queue.js";
export { openQueue, type OpenQueueOptions } from "./openQueue.js";
export type { MirrorStates, MirrorStateBody, MirrorStateWrite, MirrorStateWritten, StoredMirrorState } from "./MirrorStates.js";
export { isPostgresUrl, redactUrl } from "./redactUrl.js";
export { SqliteQueue, type SqliteQueueOptions } from "./sqlite/SqliteQueue.js";
export { HookTable } from "./sqlite/HookTable.js";
export { openDatabase, CorruptDatabaseError, type Database, type OpenDatabaseOptions } from "./database.js";
export { migrate, loadMigrations, migrationStatus, defaultMigrationsDir, type Migration, type MigrationStatus, type MigrateOptions } from "./migrate.js";
export {
  JobStore,
  validatePayload,
  type JobStoreOptions,
  type EnqueueInput,
  type EnqueueOptions,
  type EnqueueResult,
  type LeaseOptions,
  type LeaseResult,
  type FailOptions,
  type RetryOutcome,
  type JobSummary,
} from "./JobStore.js";
export { TransferLog, type TransferRecord } from "./TransferLog.js";
export { JobControl, type PausedJob } from "./JobControl.js";
export {
  WorkerRunner,
  type WorkerRunnerOptions,
  type RunnerLane,
  type JobHandler,
  type JobHandlers,
  type JobContext,
  type HandlerResult,
  type RunnerEventMap,
  type RunnerEvent,
  type StopResult,
  type SettledRun,
} from "./WorkerRunner.js";
export { backoffDelay, DEFAULT_BACKOFF, type BackoffPolicy } from "./backoff.js";
export { LeaseLostError, RetryLaterError, PayloadError, DatabaseTooNewError, MigrationError } from "./errors.js";
export {
  JOB_STATES,
  JOB_KINDS,
  payloadSchemas,
  mirrorPayloadSchema,
  uploadPayloadSchema,
  transferInputSchema,
  systemClock,
  type JobState,
  type JobKind,
  type PayloadOf,
  type Job,
  type JobBase,
  type LeasedJob,
  type LeaseRef,
  type Transfer,
  type TransferInput,
  type Clock,
} from "./types.js";
