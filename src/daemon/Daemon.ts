import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { Fleet } from "../fleet/index.js";
import type { Logger } from "../log/index.js";
import { isPostgresUrl, JOB_STATES, openQueue, redactUrl, RetryLaterError, WorkerRunner, type JobHandler, type JobKind, type Queue, type RunnerEvent, type RunnerEventMap } from "../queue/index.js";
import type { ResolvedConfig } from "./config.js";
import { isRetryableJobError } from "./errors.js";
import { BandwidthLimits } from "./bandwidth.js";
import { createMirrorHandler } from "./jobs/mirror.js";
import { createMirrorRunHandlers, DatabaseMirrorStateStore, isDistributed, mirrorHandlerFor } from "./jobs/mirrorRun/index.js";
import { createUploadHandler } from "./jobs/upload.js";
import { outboxConcurrencyKey, outboxRunnerLane } from "./jobs/outboxLease.js";
import { removeRemoteHealth, writeHealth, type DaemonHealth, type QueueTrouble } from "./health.js";
import { LocalConditions, localFailureOf, probeLocalDestination } from "./localTrouble.js";
import { isQueueFull, queueFullMessage } from "./queueTrouble.js";
import { joinFleet } from "./fleet.js";
import { acquireLock } from "./lock.js";
import { RemoteRegistry } from "./remotes.js";
import { Scheduler } from "./scheduler.js";
import { startEmbeddedServer, type EmbeddedServer } from "./server.js";
import { OutboxWatcher, type StableFile } from "./watcher.js";
import type { MirrorJob, UploadJob } from "./config.js";
import { HookDispatcher, HookEvents, jobInfoLookup, type TransferredFile } from "./hooks/index.js";
import { checkWatchFolders, keepRestartOnly, planReload, type ReloadPlan } from "./reload.js";
import { Activity } from "./activity.js";
import { JobActions } from "./jobActions.js";
import type { DaemonOperations, Readiness, RemoteView } from "./operations.js";
import { collectStatus } from "./status.js";
import { HttpSurface } from "./httpSurface.js";

/** Options of a Daemon. */
export interface DaemonOptions {
  readonly config: ResolvedConfig;
  readonly logger: Logger;
  /** Listeners of the worker runner's job events (the demo prints them). */
  readonly events?: { [E in RunnerEvent]?: (payload: RunnerEventMap[E]) => void };
  /**
   * The daemon cannot go on (another daemon took its node id): the owner stops it and exits
   * non-zero. Default: the daemon stops itself.
   */
  readonly onFatal?: (err: Error) => void;
}

/** How often stable files the database refused are offered to it again, in ms. */
const REFUSED_RETRY_MS = 5000;

/** The dedupe key of an outbox file: one waiting upload per file (per node on a shared queue, where each node has its own disk). */
export function uploadDedupeKey(job: string, path: string, node?: string): string {
  return node === undefined ? `upload:${job}:${path}` : `upload:${node}:${job}:${path}`;
}

/**
 * The daemon's lifecycle. start(): database lock, open and migrate, reclaim
 * the leases of a previous process, embedded server, workers, watchers, scheduler, pruning.
 * stop(): the reverse: no new events, running jobs get the grace period, then everything closes.
 * Nothing here needs a clean stop: after a SIGKILL the next start picks the work up.
 */
export class Daemon {
  // parameters (the config changes with a SIGHUP reload)
  #config: ResolvedConfig;
  readonly #log: Logger;
  readonly #events: NonNullable<DaemonOptions["events"]>;
  readonly #onFatal: (err: Error) => void;
  // internal state
  #server: EmbeddedServer | undefined;
  #releaseLock: (() => void) | undefined;
  #store: Queue | undefined;
  /** Connection slots, node registry and tick claims: shared on Postgres, this process alone on SQLite. */
  #fleet: Fleet | undefined;
  #remotes: RemoteRegistry | undefined;
  #runner: WorkerRunner | undefined;
  #scheduler: Scheduler | undefined;
  readonly #watchers = new Map<string, OutboxWatcher>();
  /** The jobs by name, shared with the handlers, updated in place by reload(). */
  readonly #uploadJobs = new Map<string, UploadJob>();
  readonly #mirrorJobs = new Map<string, MirrorJob>();
  #pruneTimer: NodeJS.Timeout | undefined;
  #stopping: Promise<void> | undefined;
  readonly #http: HttpSurface;
  #actions: JobActions | undefined;
  /** Running transfers, counters and the event stream of the HTTP surface. */
  readonly activity: Activity;
  #local: LocalConditions | undefined;
  #hooks: HookDispatcher | undefined;
  #hookEvents: HookEvents | undefined;
  /** What `ferry status` shows beside the queue: remotes down, local sides unwritable, the queue itself. */
  #health: DaemonHealth = { troubled: [], local: [], queue: null };
  /**
   * Stable outbox files the database could not take (its volume was full). The watcher reports
   * a file once; these are queued again every few seconds until the database takes writes, so
   * no restart is needed once space returns (D5).
   */
  readonly #refused = new Map<string, { job: UploadJob; file: StableFile }>();
  #refusedTimer: NodeJS.Timeout | undefined;
  /** Files whose refusal was already logged. */
  readonly #refusedBefore = new Set<string>();
  /** The last time a runner error was logged, per kind of error (a full disk would log each poll). */
  readonly #runnerErrorLogged = new Map<string, number>();
  /** The refused-files round in progress (rounds never overlap). */
  #refusedRound = false;

  constructor(options: DaemonOptions) {
    this.#config = options.config;
    this.#log = options.logger;
    this.#events = options.events ?? {};
    this.#onFatal = options.onFatal ?? (() => void this.stop());
    replaceJobs(this.#uploadJobs, this.#config.uploads);
    replaceJobs(this.#mirrorJobs, this.#config.mirrors);
    this.activity = new Activity(options.config);
    this.#http = new HttpSurface({ logger: this.#log, operations: () => this.operations() });
  }

  /** The HTTP surface's port, when the config has an http section. */
  get httpPort(): number | undefined {
    return this.#http.port;
  }

  /** The embedded server's port, when the config has a server section. */
  get serverPort(): number | undefined {
    return this.#server?.port;
  }

  /** Starts everything; on a failure, stops what was started and rethrows. */
  async start(): Promise<void> {
    try {
      // A missing watch folder is a typo until proven otherwise: refuse to start, naming it.
      await checkWatchFolders(this.#config);
      for (const warning of this.#config.warnings) this.#log.warn({ event: "config.warning" }, warning);
      // The lock first: a second daemon on this database is refused before it touches anything.
      await this.#openQueue();
      await this.#startServer();
      this.#startWorkers();
      await this.#startWatchers();
      await this.#startScheduler();
      this.#startPruning();
      this.#hooks?.start();
      await this.#startHttp();
    } catch (err) {
      await this.stop(0);
      throw err;
    }
    this.#log.info({ event: "daemon.ready", config: this.#config.file, database: redactUrl(this.#config.database), node: this.#config.node,
      uploads: this.#config.uploads.map((j) => j.name), mirrors: this.#config.mirrors.map((j) => j.name) }, "daemon ready");
  }

  /** Stops taking work, lets running jobs finish for up to graceMs, then closes everything. Idempotent. */
  stop(graceMs = this.#config.graceMs): Promise<void> {
    this.#stopping ??= this.#shutdown(graceMs);
    return this.#stopping;
  }

  async #shutdown(graceMs: number): Promise<void> {
    await this.#http.close().catch((err: unknown) => this.#log.warn({ err }, "closing the HTTP surface failed"));
    this.#scheduler?.stop();
    clearInterval(this.#pruneTimer);
    clearInterval(this.#refusedTimer);
    this.#local?.stop();
    await Promise.all([...this.#watchers.values()].map((w) => w.close()));
    if (this.#runner) {
      const { aborted } = await this.#runner.stop(graceMs);
      if (aborted > 0) this.#log.warn({ aborted, graceMs }, "grace period over: running jobs were put back in the queue");
    }
    await this.#remotes?.drain();
    // After the drain: the registry's connections hold fleet slots until they close.
    await this.#fleet?.close().catch((err: unknown) => this.#log.warn({ err }, "closing the fleet registry failed"));
    await this.#hooks?.stop(Math.min(graceMs, 2000));
    await this.#server?.close(Math.min(graceMs, 2000));
    await this.#store?.close().catch((err: unknown) => this.#log.warn({ err }, "closing the queue failed"));
    // A Postgres node's health file is its own once it registered; one refused under a live node's id leaves that node's alone.
    if (this.#releaseLock || (this.#store && this.#store.driver !== "sqlite" && this.#fleet)) removeRemoteHealth(this.#config.localBase);
    this.#releaseLock?.();
    this.#log.info({ event: "daemon.stopped" }, "daemon stopped");
  }

  async #startServer(): Promise<void> {
    if (!this.#config.server) return;
    this.#server = await startEmbeddedServer(this.#config.server, this.#log);
    this.#log.info({ event: "server.ready", host: this.#server.host, port: this.#server.port, root: this.#config.server.root }, "embedded server listening");
  }

  async #openQueue(): Promise<void> {
    const c = this.#config;
    // The lock is SQLite's: one daemon per file. Nodes sharing Postgres lease from it together.
    if (!isPostgresUrl(c.database)) this.#releaseLock = acquireLock(c.database);
    // A Postgres node's local files (health file, sync state) live under <config dir>/var/, which nothing else creates.
    else mkdirSync(dirname(c.localBase), { recursive: true });
    this.#store = await openQueue({ database: c.database, leaseMs: c.leaseMs, maxAttempts: c.maxAttempts, backoff: c.backoff });
    this.#hooks = new HookDispatcher({ deliveries: this.#store.hooks, hooks: c.hooks, logger: this.#log, retentionMs: c.retentionMs });
    const driver = this.#store.driver;
    this.#hookEvents = new HookEvents(this.#hooks, jobInfoLookup(c), Date.now, (job) => {
      const m = job.kind === "mirror" ? this.#mirrorJobs.get(job.name) : undefined;
      return m !== undefined && isDistributed(m, driver);
    });
    // Registered first: a second daemon under this node id is refused before it reclaims the live one's leases.
    await this.#openFleet(this.#store);
    await this.#reclaimAbandoned(this.#store);
  }

  /** Joins the fleet (a node id already used by a live daemon refuses the start: NodeIdInUseError). */
  async #openFleet(store: Queue): Promise<void> {
    const c = this.#config;
    this.#fleet = await joinFleet({
      queue: store, database: c.database, node: c.node, logger: this.#log,
      // Another daemon started under this node id: two nodes leasing as one would reclaim each other's work.
      onTakenOver: (err) => {
        this.#log.fatal({ event: "node.taken-over", node: c.node, err }, `${err.message}; this daemon stops`);
        this.#onFatal(err);
      },
    });
  }

  /**
   * The leases a previous process of this daemon left: with SQLite every lease in the file (this
   * process holds the lock, so no other can be running); with Postgres those of this node
   * (owner `${node}:PID:…` with another pid), since other nodes' leases are alive. Waiting for
   * them to expire would stall the work a crash interrupted, so each goes back now as a failed
   * attempt (a job that keeps crashing the daemon still reaches `dead`).
   */
  async #reclaimAbandoned(store: Queue): Promise<void> {
    const mine = `${this.#config.node}:`;
    const ours = `${mine}${process.pid}:`;
    const abandoned = (await store.listJobs({ states: ["leased"], limit: 100_000 })).filter((job) => store.driver === "sqlite" ||
      (job.leaseOwner !== null && job.leaseOwner.startsWith(mine) && !job.leaseOwner.startsWith(ours)));
    for (const job of abandoned) {
      if (job.leaseToken === null) continue;
      try {
        const outcome = await store.fail({ id: job.id, leaseToken: job.leaseToken }, new Error(`the daemon stopped while running this job (lease held by ${job.leaseOwner ?? "?"})`), { delayMs: 0 });
        this.#log.warn({ jobId: job.id, job: job.name, outcome: outcome.outcome }, "reclaimed a job left running by a stopped daemon");
      } catch (err) {
        // A full database volume must not stop the start: the lease sweep recovers the job once its lease expires.
        this.#log.error({ err, jobId: job.id, job: job.name }, "could not reclaim a job left running; its lease expiry will");
      }
    }
  }

  #startWorkers(): void {
    const store = this.#store!;
    const c = this.#config;
    this.#publishHealth({});
    this.#remotes = new RemoteRegistry(c.remotes, {
      // A remote's `connections` is a fleet-wide cap on Postgres; the single box keeps the pool's own cap.
      ...(store.driver === "postgres" && this.#fleet ? { slots: this.#fleet.slots } : {}),
      backoff: c.backoff, loginBackoff: c.loginBackoff, logger: this.#log,
      // For `ferry status`: which remotes are unreachable or refuse the login, since when, and the last error.
      onHealthChange: (troubled) => {
        this.#publishHealth({ troubled });
        this.#hookEvents?.remoteHealth(troubled);
      },
    });
    this.#local = new LocalConditions({
      backoff: c.localBackoff, spaceCheckMs: c.spaceCheckMs, logger: this.#log,
      onChange: (local) => this.#publishHealth({ local }),
      wake: (jobs) => {
        store.wake(jobs).then(
          (n) => n > 0 && this.#runner?.notify(),
          (err: unknown) => this.#log.warn({ err, jobs }, "could not wake the jobs waiting for space"),
        );
      },
    });
    const bandwidth = new BandwidthLimits(c.bandwidth, { logger: this.#log });
    const uploads = this.#uploadJobs;
    const mirrors = this.#mirrorJobs;
    const onTransferred = (job: string, files: readonly TransferredFile[]): Promise<void> | undefined => this.#hookEvents?.transferred(job, files);
    const mirrorLocal = (name: string): { path: string; probe: boolean } | undefined => {
      const m = mirrors.get(name);
      return m ? { path: m.localRoot, probe: m.direction === "download" } : undefined;
    };
    // One home for every mirror's sync state, single-job and distributed runs alike: the queue's
    // database (the state files of earlier versions are imported on first use).
    const state = new DatabaseMirrorStateStore(store.mirrorStates, { legacyDir: c.stateDir, logger: this.#log });
    const run = createMirrorRunHandlers({
      jobs: mirrors, remotes: this.#remotes, queue: store, state, recordsDir: c.stateDir,
      logger: this.#log, onTransferred, bandwidth, progress: this.activity.progress,
    });
    const single = createMirrorHandler({ jobs: mirrors, remotes: this.#remotes, state, recordsDir: c.stateDir, logger: this.#log, onTransferred, bandwidth, progress: this.activity.progress });
    this.#runner = new WorkerRunner(store, {
      handlers: {
        upload: this.#guard(createUploadHandler({ jobs: uploads, remotes: this.#remotes, logger: this.#log, onTransferred, bandwidth, progress: this.activity.progress }), (job) => ({ path: job.payload.path })),
        mirror: this.#guard(mirrorHandlerFor({ jobs: mirrors, driver: store.driver, single, plan: run.plan }), (job) => mirrorLocal(job.payload.job)),
        "mirror-part": this.#guard(run["mirror-part"], (job) => mirrorLocal(job.payload.job)),
        "mirror-finish": this.#guard(run["mirror-finish"], (job) => mirrorLocal(job.payload.job)),
      },
      concurrency: c.workers,
      workerIdPrefix: `${c.node}:${process.pid}`,
      node: c.node,
      keyLimits: this.#remotes.keyLimits(),
      // Outbox files stream over their remote's connections (jobs/uploadLane.ts): more of them
      // run at once than the remote has connections, beside the workers.
      lanes: [outboxRunnerLane(c.remotes)],
      isRetryable: isRetryableJobError,
      logger: this.#log,
      leaseMs: c.leaseMs,
      notify: (run) => this.#hookEvents?.settled(run) ?? [],
    });
    this.#hookEvents?.attach(this.#runner);
    for (const [event, listener] of Object.entries(this.#events) as [RunnerEvent, (p: unknown) => void][]) this.#runner.on(event, listener);
    for (const event of ["job:leased", "job:succeeded", "job:failed", "job:dead", "job:deferred", "lease:expired"] as const) {
      this.#runner.on(event, (payload) => this.activity.runnerEvent(event, payload));
    }
    this.#actions = new JobActions({ config: c, queue: store, notify: () => this.#runner?.notify(), onEvent: (e) => this.activity.action(e) });
    this.#runner.on("runner:error", ({ error, during }) => this.#onStoreError(error, during));
    this.#runner.start();
  }

  /**
   * A job handler wrapped so that a full, read-only or unwritable local side defers the job
   * with the long local backoff instead of using an attempt (D4, D6, I15), and so that its
   * success clears the condition. `local` names the job's local path; `probe` says the path is
   * a destination worth checking directly when the error carries no errno (the sync engine
   * reports per-file failures as text).
   */
  #guard<K extends JobKind>(handler: JobHandler<K>, local: (job: Parameters<JobHandler<K>>[0]) => { path: string; probe?: boolean } | undefined): JobHandler<K> {
    return async (job, ctx) => {
      let result;
      try {
        result = await handler(job, ctx);
      } catch (err) {
        if (err instanceof RetryLaterError || ctx.signal.aborted) throw err;
        const where = local(job);
        if (!where) throw err;
        const found = localFailureOf(err, where.path) ?? (where.probe ? await probeLocalDestination(where.path).catch(() => undefined) : undefined);
        if (!found) throw err;
        const delayMs = await this.#local!.record(job.name, found);
        throw new RetryLaterError(`${found.message}; the job waits ${Math.ceil(delayMs / 1000)} s without using an attempt`, { delayMs, cause: err });
      }
      this.#local?.clear(job.name);
      if (result?.transfers) this.activity.recordTransfers(result.transfers);
      return result;
    };
  }

  /** Replace parts of the health file; a failure (its disk is full too) is logged, never thrown. */
  #publishHealth(part: Partial<DaemonHealth>): void {
    this.#health = { ...this.#health, ...part };
    try {
      writeHealth(this.#config.localBase, this.#health);
    } catch (err) {
      // Its disk may be full for an hour: once a minute is enough to say so.
      const now = Date.now();
      if (now - (this.#runnerErrorLogged.get("health") ?? 0) < 60_000) return;
      this.#runnerErrorLogged.set("health", now);
      this.#log.warn({ err }, "could not write the health file for `ferry status`");
    }
  }

  /**
   * The queue failed outside a handler (lease, settle, heartbeat): say so once a minute per
   * kind, and flag a full database. A lease or sweep that fails is the runner's to log (once per
   * outage).
   */
  #onStoreError(error: unknown, during: string): void {
    const full = isQueueFull(error);
    if (full) this.#setQueueTrouble(error);
    if (!full && (during === "lease" || during === "recover expired leases")) return;
    const kind = `${full ? "full" : (error as { code?: unknown } | null)?.code ?? "error"}:${during.replace(/\d+/g, "N")}`;
    const now = Date.now();
    if (now - (this.#runnerErrorLogged.get(kind) ?? 0) < 60_000) return;
    this.#runnerErrorLogged.set(kind, now);
    this.#log.error({ err: error, during }, full ? queueFullMessage(redactUrl(this.#config.database)) : "queue database error; the daemon keeps running");
  }

  #setQueueTrouble(error: unknown): void {
    if (this.#health.queue) {
      // Already said; the count of refused files is refreshed with the retry round instead.
      return;
    }
    const queue: QueueTrouble = { message: `${queueFullMessage(redactUrl(this.#config.database))} (${(error as Error).message})`, since: Date.now(), refusedFiles: this.#refused.size };
    this.#log.error({ event: "queue.full", database: redactUrl(this.#config.database), err: error }, queue.message);
    this.#publishHealth({ queue });
  }

  #clearQueueTrouble(): void {
    if (!this.#health.queue || this.#refused.size > 0) return;
    this.#log.info({ event: "queue.ok", database: redactUrl(this.#config.database) }, "the queue database takes writes again");
    this.#publishHealth({ queue: null });
  }

  /** Queue again, every few seconds, the files the database refused; stops when none is left. */
  #retryRefusedSoon(): void {
    if (this.#refusedTimer) return;
    this.#refusedTimer = setInterval(() => void this.#retryRefused(), REFUSED_RETRY_MS);
    this.#refusedTimer.unref();
  }

  /** One round of #retryRefusedSoon. */
  async #retryRefused(): Promise<void> {
    if (this.#refusedRound) return;
    this.#refusedRound = true;
    try {
      for (const [path, { job, file }] of [...this.#refused]) {
        this.#refused.delete(path);
        await this.#enqueueUpload(job, file); // puts it back on failure
      }
      if (this.#refused.size === 0) {
        clearInterval(this.#refusedTimer);
        this.#refusedTimer = undefined;
        this.#clearQueueTrouble();
      } else if (this.#health.queue && this.#health.queue.refusedFiles !== this.#refused.size) {
        this.#publishHealth({ queue: { ...this.#health.queue, refusedFiles: this.#refused.size } });
      }
    } finally {
      this.#refusedRound = false;
    }
  }

  async #startWatchers(): Promise<void> {
    for (const job of this.#config.uploads) await this.#startWatcher(job);
  }

  async #startWatcher(job: UploadJob): Promise<void> {
    const watcher = new OutboxWatcher({ job, logger: this.#log, onStable: (file) => void this.#enqueueUpload(job, file) });
    this.#watchers.set(job.name, watcher);
    await watcher.start();
  }

  /**
   * SIGHUP: apply a new config. Jobs added, removed or changed take effect (watchers and
   * schedules follow), and so do hooks; settings of the queue, the workers, the remotes and the
   * embedded server keep their running values until a restart (logged). A config that cannot be
   * applied (a missing watch folder, a new remote) throws ConfigError before anything changes.
   */
  async reload(next: ResolvedConfig): Promise<ReloadPlan> {
    if (this.#stopping || !this.#store) throw new Error("the daemon is not running");
    const plan = await planReload(this.#config, next);
    // The new HTTP listener is bound first: one that cannot be refuses the reload, nothing changed.
    const http = await this.#http.prepare(next.http);
    try {
      await this.#applyReload(next, plan);
    } catch (err) {
      await http.abort();
      throw err;
    }
    await http.commit();
    return plan;
  }

  async #applyReload(next: ResolvedConfig, plan: ReloadPlan): Promise<void> {
    for (const job of plan.stopWatching) {
      await this.#watchers.get(job.name)?.close();
      this.#watchers.delete(job.name);
    }
    this.#config = keepRestartOnly(this.#config, next);
    replaceJobs(this.#uploadJobs, this.#config.uploads);
    replaceJobs(this.#mirrorJobs, this.#config.mirrors);
    this.#hooks?.configure(this.#config.hooks);
    this.#hookEvents?.setJobs(jobInfoLookup(this.#config));
    for (const job of plan.startWatching) await this.#startWatcher(job);
    if (plan.mirrorsChanged) {
      this.#scheduler?.stop();
      await this.#startScheduler();
    }
    this.#log.info({ event: "daemon.reloaded", config: this.#config.file, added: plan.added, removed: plan.removed, changed: plan.changed }, "config reloaded");
    if (plan.needRestart.length > 0) {
      this.#log.warn({ event: "daemon.reload-needs-restart", settings: plan.needRestart }, `changed settings keep their running values until a restart: ${plan.needRestart.join(", ")}`);
    }
  }

  /** Queues the upload of a stable file; never rejects (a refusal is kept and retried). */
  async #enqueueUpload(job: UploadJob, file: StableFile): Promise<void> {
    const log = this.#log.child({ job: job.name, kind: "upload", file: file.path });
    try {
      if (await this.#isRunning(job, file)) {
        log.info({ size: file.size }, "file stable; its upload is already running");
        return;
      }
      // On a queue shared by several nodes the upload is bound to this node, whose disk has the
      // file (a single box binds nothing: a renamed host must not strand its queued uploads).
      const node = this.#store!.driver === "postgres" ? this.#config.node : undefined;
      const { job: row, created } = await this.#store!.enqueue(
        { kind: "upload", payload: { job: job.name, path: file.path, size: file.size, mtimeMs: file.mtimeMs },
          dedupeKey: uploadDedupeKey(job.name, file.path, node), concurrencyKey: outboxConcurrencyKey(job.remote), ...(node ? { node } : {}) },
        // A file rewritten while its upload runs gets a new job: the running one sent the old bytes.
        { coalesceWithLeased: false },
      );
      this.#refusedBefore.delete(file.path);
      log.info({ jobId: row.id, size: file.size, coalesced: !created }, created ? "file stable; upload queued" : "file stable; upload already queued");
      if (created) this.#runner?.notify();
    } catch (err) {
      // Not queued: the file stays in the outbox; it is queued again every few seconds (and
      // found again at the next start), so a full database volume loses nothing.
      const again = this.#refusedBefore.has(file.path);
      this.#refused.set(file.path, { job, file });
      this.#refusedBefore.add(file.path);
      if (isQueueFull(err)) this.#setQueueTrouble(err);
      // Once per file: a retry round every few seconds over hundreds of files would flood the log.
      if (!again) log.error({ err, retryInMs: REFUSED_RETRY_MS }, isQueueFull(err) ? `${queueFullMessage(redactUrl(this.#config.database))}; the upload is queued once it has room` : "could not queue the upload; trying again");
      this.#retryRefusedSoon();
    }
  }

  /**
   * Whether a job uploading exactly this version of the file is running. Such a file is seen
   * again when the daemon restarts while its reclaimed job already runs; a second job would find
   * it moved away. A different version (rewritten during the upload) does get a new job.
   */
  async #isRunning(job: UploadJob, file: StableFile): Promise<boolean> {
    // Leased jobs are at most `workers` rows per node: cheap to scan.
    return (await this.#store!.listJobs({ states: ["leased"], name: job.name, limit: 10_000 })).some((j) =>
      j.kind === "upload" && (j.node === null || j.node === this.#config.node) && j.payload.path === file.path && j.payload.size === file.size && j.payload.mtimeMs === file.mtimeMs);
  }

  async #startScheduler(): Promise<void> {
    this.#scheduler = new Scheduler({
      store: this.#store!, jobs: this.#config.mirrors, logger: this.#log, onEnqueued: () => this.#runner?.notify(),
      ...(this.#fleet ? { ticks: this.#fleet.ticks } : {}), node: this.#config.node,
    });
    await this.#scheduler.start();
  }

  /** The HTTP surface (API, metrics, dashboard), when configured; fastify is loaded only then. */
  async #startHttp(): Promise<void> {
    await this.#http.start(this.#config.http);
  }

  /** The daemon as its HTTP surface sees it (valid once start() resolved). */
  operations(): DaemonOperations {
    // Read at each call: a SIGHUP reload replaces the config under a running HTTP surface.
    const daemon = this;
    const store = (): Queue => {
      if (!this.#store) throw new Error("the daemon has not started");
      return this.#store;
    };
    const actions = this.#actions;
    if (!actions) throw new Error("the daemon has not started");
    return {
      get config() {
        return daemon.#config;
      },
      activity: this.activity,
      actions,
      ready: () => this.#readiness(),
      status: () => collectStatus(this.#config),
      remotes: () => this.#remoteViews(),
      queueDepth: async () => {
        const depth = Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<(typeof JOB_STATES)[number], number>;
        for (const s of await store().jobSummaries()) for (const state of JOB_STATES) depth[state] += s.counts[state];
        return depth;
      },
      secrets: () => [
        ...this.#config.remotes.map((r) => r.connect.password).filter((p): p is string => p !== undefined && p.length > 0),
        ...(this.#config.http?.token !== undefined ? [this.#config.http.token] : []),
      ],
    };
  }

  async #readiness(): Promise<Readiness> {
    if (this.#stopping) return { ready: false, reason: "the daemon is stopping" };
    if (!this.#store) return { ready: false, reason: "the queue database is not open" };
    try {
      // The cheapest read both drivers answer: no row has id 0.
      await this.#store.getJob(0);
    } catch (err) {
      return { ready: false, reason: `the queue database does not answer: ${(err as Error).message}` };
    }
    if (!this.#scheduler) return { ready: false, reason: "the scheduler is not running" };
    if (this.#health.queue) return { ready: false, reason: this.#health.queue.message };
    return { ready: true };
  }

  #remoteViews(): RemoteView[] {
    const troubled = new Map(this.#remotes?.troubled().map((t) => [t.name, t]) ?? []);
    const open = this.#remotes?.connections() ?? new Map<string, number>();
    return this.#config.remotes.map((r) => {
      const t = troubled.get(r.name);
      return {
        name: r.name, url: r.display, reachable: !t, loginRefused: t?.reason === "login refused",
        connections: open.get(r.name) ?? 0, maxConnections: r.connections,
        since: t ? new Date(t.since).toISOString() : null, lastError: t?.lastError ?? null,
      };
    });
  }

  /** Finished jobs and history older than the retention go, at start and then hourly. */
  #startPruning(): void {
    const prune = (): void => {
      this.#store!.prune({ olderThanMs: this.#config.retentionMs }).then(
        (n) => n.jobs + n.transfers > 0 && this.#log.info(n, "pruned old jobs and transfer history"),
        (err: unknown) => this.#log.error({ err }, "pruning failed"),
      );
    };
    prune();
    this.#pruneTimer = setInterval(prune, Math.min(this.#config.retentionMs, 3_600_000));
    this.#pruneTimer.unref();
  }
}

/** Make `map` hold exactly these jobs, by name (the handlers hold the map itself). */
function replaceJobs<J extends { readonly name: string }>(map: Map<string, J>, jobs: readonly J[]): void {
  map.clear();
  for (const j of jobs) map.set(j.name, j);
}
