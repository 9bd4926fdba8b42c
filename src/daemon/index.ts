/** The daemon: scheduler, outbox watchers, workers over the durable queue, lifecycle, status. */
export { Daemon, uploadDedupeKey, type DaemonOptions } from "./Daemon.js";
export { loadDaemonConfig, loadDaemonConfigWithoutSecrets, resolveDaemonConfig, type ResolvedConfig, type UploadJob, type MirrorJob, type AfterAction } from "./config.js";
export { collectStatus, type DaemonStatus, type JobStatus, type RemoteDownView, type HooksStatus, type HookDeliveryView } from "./status.js";
export { Scheduler, mirrorDedupeKey, nextScheduledRun, type SchedulerOptions } from "./scheduler.js";
export { OutboxWatcher, createIgnoreTest, DEFAULT_IGNORE, type StableFile, type OutboxWatcherOptions } from "./watcher.js";
export { RemoteRegistry, remoteEndpoint, isServerBusy, type RemoteEndpoint, type RemoteRegistryOptions, type RemoteTrouble } from "./remotes.js";
export { nextFire, previousFire } from "./cronTimes.js";
export { acquireLock, lockHolder, lockFileOf, DatabaseLockedError } from "./lock.js";
export { PermanentJobError, isRetryableJobError } from "./errors.js";
export { healthFileOf, readRemoteHealth } from "./health.js";
export { createUploadHandler, remotePathFor, type UploadRunnerDeps } from "./jobs/upload.js";
export { createMirrorHandler, type MirrorRunnerDeps } from "./jobs/mirror.js";
export { statusProblems, statusOkLine } from "./statusCheck.js";
