import type { Logger } from "../log/index.js";
import { JobStore, openDatabase, WorkerRunner, type Database, type RunnerEvent, type RunnerEventMap } from "../queue/index.js";
import type { ResolvedConfig } from "./config.js";
import { isRetryableJobError } from "./errors.js";
import { createMirrorHandler } from "./jobs/mirror.js";
import { createUploadHandler } from "./jobs/upload.js";
import { removeRemoteHealth, writeRemoteHealth } from "./health.js";
import { acquireLock } from "./lock.js";
import { RemoteRegistry } from "./remotes.js";
import { Scheduler } from "./scheduler.js";
import { startEmbeddedServer, type EmbeddedServer } from "./server.js";
import { OutboxWatcher, type StableFile } from "./watcher.js";
import type { UploadJob } from "./config.js";

/** Options of a Daemon. */
export interface DaemonOptions {
  readonly config: ResolvedConfig;
  readonly logger: Logger;
  /** Listeners of the worker runner's job events (the demo prints them). */
  readonly events?: { [E in RunnerEvent]?: (payload: RunnerEventMap[E]) => void };
}

/** The dedupe key of an outbox file: one waiting upload per file. */
export function uploadDedupeKey(job: string, path: string): string {
  return `upload:${job}:${path}`;
}

/**
 * The daemon's lifecycle (DESIGN "The flow"). start(): database lock, open and migrate, reclaim
 * the leases of a previous process, embedded server, workers, watchers, scheduler, pruning.
 * stop(): the reverse: no new events, running jobs get the grace period, then everything closes.
 * Nothing here needs a clean stop: after a SIGKILL the next start picks the work up.
 */
export class Daemon {
  // parameters
  readonly #config: ResolvedConfig;
  readonly #log: Logger;
  readonly #events: NonNullable<DaemonOptions["events"]>;
  // internal state
  #server: EmbeddedServer | undefined;
  #releaseLock: (() => void) | undefined;
  #db: Database | undefined;
  #store: JobStore | undefined;
  #remotes: RemoteRegistry | undefined;
  #runner: WorkerRunner | undefined;
  #scheduler: Scheduler | undefined;
  #watchers: OutboxWatcher[] = [];
  #pruneTimer: NodeJS.Timeout | undefined;
  #stopping: Promise<void> | undefined;

  constructor(options: DaemonOptions) {
    this.#config = options.config;
    this.#log = options.logger;
    this.#events = options.events ?? {};
  }

  /** The embedded server's port, when the config has a server section. */
  get serverPort(): number | undefined {
    return this.#server?.port;
  }

  /** Starts everything; on a failure, stops what was started and rethrows. */
  async start(): Promise<void> {
    try {
      // The lock first: a second daemon on this database is refused before it touches anything.
      this.#openQueue();
      await this.#startServer();
      this.#startWorkers();
      await this.#startWatchers();
      this.#startScheduler();
      this.#startPruning();
    } catch (err) {
      await this.stop(0);
      throw err;
    }
    this.#log.info({ event: "daemon.ready", config: this.#config.file, database: this.#config.database,
      uploads: this.#config.uploads.map((j) => j.name), mirrors: this.#config.mirrors.map((j) => j.name) }, "daemon ready");
  }

  /** Stops taking work, lets running jobs finish for up to graceMs, then closes everything. Idempotent. */
  stop(graceMs = this.#config.graceMs): Promise<void> {
    this.#stopping ??= this.#shutdown(graceMs);
    return this.#stopping;
  }

  async #shutdown(graceMs: number): Promise<void> {
    this.#scheduler?.stop();
    clearInterval(this.#pruneTimer);
    await Promise.all(this.#watchers.map((w) => w.close()));
    if (this.#runner) {
      const { aborted } = await this.#runner.stop(graceMs);
      if (aborted > 0) this.#log.warn({ aborted, graceMs }, "grace period over: running jobs were put back in the queue");
    }
    await this.#remotes?.drain();
    await this.#server?.close(Math.min(graceMs, 2000));
    this.#db?.close();
    if (this.#releaseLock) removeRemoteHealth(this.#config.database);
    this.#releaseLock?.();
    this.#log.info({ event: "daemon.stopped" }, "daemon stopped");
  }

  async #startServer(): Promise<void> {
    if (!this.#config.server) return;
    this.#server = await startEmbeddedServer(this.#config.server, this.#log);
    this.#log.info({ event: "server.ready", host: this.#server.host, port: this.#server.port, root: this.#config.server.root }, "embedded server listening");
  }

  #openQueue(): void {
    this.#releaseLock = acquireLock(this.#config.database);
    this.#db = openDatabase(this.#config.database);
    this.#store = new JobStore(this.#db, { leaseMs: this.#config.leaseMs, maxAttempts: this.#config.maxAttempts, backoff: this.#config.backoff });
    this.#reclaimAbandoned(this.#store);
  }

  /**
   * Every lease in the database belongs to a daemon that is gone: this process holds the lock,
   * so no other can be running. Waiting for those leases to expire would stall the work a crash
   * interrupted, so each goes back now as a failed attempt (a job that keeps crashing the
   * daemon still reaches `dead`).
   */
  #reclaimAbandoned(store: JobStore): void {
    for (const job of store.listJobs({ states: ["leased"], limit: 100_000 })) {
      if (job.leaseToken === null) continue;
      const outcome = store.fail({ id: job.id, leaseToken: job.leaseToken }, new Error(`the daemon stopped while running this job (lease held by ${job.leaseOwner ?? "?"})`), { delayMs: 0 });
      this.#log.warn({ jobId: job.id, job: job.name, outcome: outcome.outcome }, "reclaimed a job left running by a stopped daemon");
    }
  }

  #startWorkers(): void {
    const store = this.#store!;
    const c = this.#config;
    writeRemoteHealth(c.database, []);
    this.#remotes = new RemoteRegistry(c.remotes, {
      backoff: c.backoff, logger: this.#log,
      // For `ferry status`: which remotes are unreachable, since when, and the last error.
      onHealthChange: (troubled) => {
        try {
          writeRemoteHealth(c.database, troubled);
        } catch (err) {
          this.#log.warn({ err }, "could not write the remote health file");
        }
      },
    });
    const uploads = new Map(c.uploads.map((j) => [j.name, j]));
    const mirrors = new Map(c.mirrors.map((j) => [j.name, j]));
    this.#runner = new WorkerRunner(store, {
      handlers: {
        upload: createUploadHandler({ jobs: uploads, remotes: this.#remotes, logger: this.#log }),
        mirror: createMirrorHandler({ jobs: mirrors, remotes: this.#remotes, stateDir: c.stateDir, logger: this.#log }),
      },
      concurrency: c.workers,
      keyLimits: this.#remotes.keyLimits(),
      isRetryable: isRetryableJobError,
      logger: this.#log,
      leaseMs: c.leaseMs,
    });
    for (const [event, listener] of Object.entries(this.#events) as [RunnerEvent, (p: unknown) => void][]) this.#runner.on(event, listener);
    this.#runner.start();
  }

  async #startWatchers(): Promise<void> {
    for (const job of this.#config.uploads) {
      const watcher = new OutboxWatcher({ job, logger: this.#log, onStable: (file) => this.#enqueueUpload(job, file) });
      this.#watchers.push(watcher);
      await watcher.start();
    }
  }

  #enqueueUpload(job: UploadJob, file: StableFile): void {
    const log = this.#log.child({ job: job.name, kind: "upload", file: file.path });
    try {
      if (this.#isRunning(job, file)) {
        log.info({ size: file.size }, "file stable; its upload is already running");
        return;
      }
      const { job: row, created } = this.#store!.enqueue(
        { kind: "upload", payload: { job: job.name, path: file.path, size: file.size, mtimeMs: file.mtimeMs },
          dedupeKey: uploadDedupeKey(job.name, file.path), concurrencyKey: job.remote },
        // A file rewritten while its upload runs gets a new job: the running one sent the old bytes.
        { coalesceWithLeased: false },
      );
      log.info({ jobId: row.id, size: file.size, coalesced: !created }, created ? "file stable; upload queued" : "file stable; upload already queued");
      if (created) this.#runner?.notify();
    } catch (err) {
      // Not queued: the file stays in the outbox and is found again at the next start.
      log.error({ err }, "could not queue the upload");
    }
  }

  /**
   * Whether a job uploading exactly this version of the file is running. Such a file is seen
   * again when the daemon restarts while its reclaimed job already runs; a second job would find
   * it moved away. A different version (rewritten during the upload) does get a new job.
   */
  #isRunning(job: UploadJob, file: StableFile): boolean {
    // Leased jobs are at most `workers` rows: cheap to scan.
    return this.#store!.listJobs({ states: ["leased"], name: job.name, limit: 10_000 }).some((j) =>
      j.kind === "upload" && j.payload.path === file.path && j.payload.size === file.size && j.payload.mtimeMs === file.mtimeMs);
  }

  #startScheduler(): void {
    this.#scheduler = new Scheduler({ store: this.#store!, jobs: this.#config.mirrors, logger: this.#log, onEnqueued: () => this.#runner?.notify() });
    this.#scheduler.start();
  }

  /** Finished jobs and history older than the retention go, at start and then hourly. */
  #startPruning(): void {
    const prune = (): void => {
      try {
        const n = this.#store!.prune({ olderThanMs: this.#config.retentionMs });
        if (n.jobs + n.transfers > 0) this.#log.info(n, "pruned old jobs and transfer history");
      } catch (err) {
        this.#log.error({ err }, "pruning failed");
      }
    };
    prune();
    this.#pruneTimer = setInterval(prune, Math.min(this.#config.retentionMs, 3_600_000));
    this.#pruneTimer.unref();
  }
}
