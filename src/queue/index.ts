// The durable job queue: open the database, store jobs, run workers.
//
//   const db = openDatabase(config.database);            // WAL, pragmas, migrations (refuses a newer db)
//   const store = new JobStore(db, { maxAttempts: 5, backoff: { baseMs: 1000, capMs: 300_000 } });
//   store.enqueue({ kind: "upload", payload, dedupeKey: `upload:${job}:${path}`, concurrencyKey: remote });
//   store.enqueue({ kind: "mirror", payload: { job } , dedupeKey: `mirror:${job}` }, { coalesceWithLeased: true });
//   const runner = new WorkerRunner(store, { concurrency: config.workers, keyLimits: { backup: 4 }, handlers: { mirror, upload } });
//   runner.on("job:dead", ({ job }) => ...); runner.start();      // start() recovers expired leases first
//   runner.notify();                                               // after an enqueue, to skip the poll wait
//   await runner.stop(graceMs);                                    // SIGINT/SIGTERM
//   store.prune({ olderThanMs: retention }); store.jobSummaries(); store.transfers.list({ jobName })  // housekeeping, `ferry status`
//
// States: queued → leased → done | failed (waits for its retry, then leased again) | dead.
// A handler returns { transfers } to have them recorded in the transaction that completes the job;
// it throws to fail (retry with backoff, then dead), or throws RetryLaterError to defer without
// using an attempt. Its AbortSignal fires when stop's grace runs out or the lease was lost.
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
