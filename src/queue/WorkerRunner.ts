import { hostname } from "node:os";
import type { Logger } from "pino";
import { createLogger } from "../log/index.js";
import { backoffDelay } from "./backoff.js";
import { LeaseLostError, RetryLaterError } from "./errors.js";
import type { RetryOutcome } from "./JobStore.js";
import type { NotificationInput, Queue } from "./Queue.js";
import { systemClock, type Clock, type Job, type JobKind, type LeasedJob, type PayloadOf, type TransferInput } from "./types.js";

/** What a handler gets besides its job. */
export interface JobContext {
  /** Fires when the runner's stop grace period runs out, or when the lease was lost; stop work and throw. */
  readonly signal: AbortSignal;
  readonly workerId: string;
}

/** What a handler may report; transfers are recorded in the same transaction that completes the job. */
export interface HandlerResult {
  readonly transfers?: readonly TransferInput[];
}

/** Runs one leased job of kind K. Throw to fail it, throw RetryLaterError to defer it without using an attempt. */
export type JobHandler<K extends JobKind> = (
  job: LeasedJob & { readonly kind: K; readonly payload: PayloadOf<K> },
  context: JobContext,
) => Promise<HandlerResult | void>;

/** One handler per kind the runner serves; kinds without a handler are never leased. */
export type JobHandlers = { readonly [K in JobKind]?: JobHandler<K> };

/** The runner's lifecycle events and their payloads. */
export interface RunnerEventMap {
  "job:leased": { readonly job: LeasedJob; readonly workerId: string };
  "job:succeeded": { readonly job: Job; readonly workerId: string; readonly durationMs: number; readonly bytes: number };
  /** An attempt failed and the job waits for its retry at runAfter. */
  "job:failed": { readonly job: Job; readonly error: unknown; readonly runAfter: number; readonly mergedInto?: number };
  /** Attempts used up, error not retryable, or payload invalid at lease. */
  "job:dead": { readonly job: Job; readonly error: unknown };
  /** RetryLaterError, or a graceful stop put the job back without using an attempt. */
  "job:deferred": { readonly job: Job; readonly reason: string; readonly runAfter: number };
  /** The recovery sweep found this job's lease expired (its worker died or hung). */
  "lease:expired": { readonly job: Job; readonly outcome: "retry" | "dead" };
  /** This runner lost a job it was running (lease expired and recovered elsewhere); its result was dropped. */
  "lease:lost": { readonly jobId: number; readonly workerId: string; readonly error: LeaseLostError };
  /** The queue failed (its disk is full, Postgres restarts); the runner keeps going and the lease recovery covers the job. */
  "runner:error": { readonly error: unknown; readonly during: string };
  /** The queue answers again after calls to it failed (an outage of downMs). */
  "runner:recovered": { readonly downMs: number };
}

/**
 * A run's outcome as `notify` sees it, as the queue is about to record it. `job` is the row
 * after the write; for a failed run that was folded into a waiting twin, the twin.
 */
export type SettledRun =
  | { readonly outcome: "succeeded"; readonly job: Job; readonly durationMs: number; readonly bytes: number; readonly files: number }
  | { readonly outcome: "failed"; readonly job: Job; readonly error: unknown; readonly durationMs: number; readonly runAfter: number }
  | { readonly outcome: "dead"; readonly job: Job; readonly error: unknown; readonly durationMs: number };

/** Name of a runner event. */
export type RunnerEvent = keyof RunnerEventMap;

/** Options for a WorkerRunner. */
export interface WorkerRunnerOptions {
  readonly handlers: JobHandlers;
  /** Jobs run at once; default 1. */
  readonly concurrency?: number;
  /** Prefix of each worker's id (recorded as lease owner); default "host:pid" (the daemon passes "node:pid"). */
  readonly workerIdPrefix?: string;
  /** This node's name: jobs bound to another node (its outbox uploads) are never leased here. */
  readonly node?: string;
  /** How long an idle worker waits before looking again, in ms; notify() wakes it sooner; default 1000. */
  readonly pollIntervalMs?: number;
  /** Lease duration in ms; default the store's. */
  readonly leaseMs?: number;
  /** Heartbeat period while a handler runs, in ms; default a third of the lease. */
  readonly heartbeatIntervalMs?: number;
  /** Period of the expired-lease recovery sweep, in ms; default the lease duration. */
  readonly sweepIntervalMs?: number;
  /** Most jobs leased at once per concurrency key (e.g. per remote); keys not listed are unlimited. */
  readonly keyLimits?: Readonly<Record<string, number>>;
  /** Whether an error may heal by retrying; default: every error is retryable. */
  readonly isRetryable?: (error: unknown) => boolean;
  /** Time and timers; default the system clock. */
  readonly clock?: Clock;
  /** Default: createLogger(). One line per job outcome with duration and bytes. */
  readonly logger?: Logger;
  /**
   * Computes the hook notifications of a run's success or failure; the queue stores them in the
   * transaction that records the outcome, so they commit with it or not at all. Synchronous and
   * pure; its errors are logged and never change the outcome (the run then notifies nothing).
   */
  readonly notify?: (run: SettledRun) => readonly NotificationInput[];
  /**
   * Kinds leased by lanes of their own instead of by the workers: jobs that mostly wait for a
   * shared resource (outbox files queued on a remote's connections) may then run more at once
   * than `concurrency` allows, without taking workers from the other kinds.
   */
  readonly lanes?: readonly RunnerLane[];
}

/**
 * A lane of a WorkerRunner: one loop that leases jobs of its kinds as long as fewer than
 * `concurrency` of them run, and runs each like a worker does (heartbeat, events, settle).
 */
export interface RunnerLane {
  /** Names its lease owners: "<prefix>:<name>-N". */
  readonly name: string;
  readonly kinds: readonly JobKind[];
  /** Most of its jobs running at once. */
  readonly concurrency: number;
  /** Its own per-key caps; the workers' keyLimits do not apply to it. */
  readonly keyLimits?: Readonly<Record<string, number>>;
}

/** Result of stop: how many running jobs had to be aborted when the grace period ran out. */
export interface StopResult {
  readonly aborted: number;
}

type Listener<E extends RunnerEvent> = (payload: RunnerEventMap[E]) => void;

/** While the queue does not answer, lease and sweep calls are retried no slower than this (ms). */
const OUTAGE_RETRY_CAP_MS = 5000;

/**
 * N concurrent workers over a Queue: lease, heartbeat, run the kind's handler, complete or fail.
 * A queue that does not answer for a while (a Postgres restart, a full disk) stops nothing: the
 * calls are retried with backoff, the outage is logged once, and a running job whose lease
 * could not be renewed before it ran out is aborted as a lost lease.
 */
export class WorkerRunner {
  // parameters
  readonly #queue: Queue;
  readonly #handlers: JobHandlers;
  readonly #kinds: JobKind[];
  readonly #concurrency: number;
  readonly #prefix: string;
  readonly #node: string | undefined;
  readonly #pollMs: number;
  readonly #leaseMs: number;
  readonly #heartbeatMs: number;
  readonly #sweepMs: number;
  readonly #keyLimits: Readonly<Record<string, number>>;
  readonly #isRetryable: (error: unknown) => boolean;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #notify: ((run: SettledRun) => readonly NotificationInput[]) | undefined;
  readonly #lanes: readonly RunnerLane[];
  /** The kinds the workers lease: those no lane takes. */
  readonly #workerKinds: JobKind[];
  // internal state
  readonly #listeners = new Map<RunnerEvent, Set<Listener<never>>>();
  readonly #wakers = new Set<() => void>();
  readonly #running = new Set<AbortController>();
  /** Renew now, one per running job: the sweep renews its own leases before judging any expired. */
  readonly #beats = new Set<() => Promise<void>>();
  /** Set while lease or sweep calls fail: since when, and how many failed in a row. */
  #outage: { since: number; failures: number } | undefined;
  /** The sweep in progress, if any (stop waits for it). */
  #sweepRun: Promise<void> | undefined;
  readonly #stopController = new AbortController();
  #loops: Promise<void>[] = [];
  #cancelSweep: (() => void) | undefined;
  #stopping: Promise<StopResult> | undefined;
  #state: "new" | "running" | "stopping" | "stopped" = "new";

  constructor(queue: Queue, options: WorkerRunnerOptions) {
    this.#queue = queue;
    this.#handlers = options.handlers;
    this.#kinds = (Object.keys(options.handlers) as JobKind[]).filter((k) => options.handlers[k] !== undefined);
    if (this.#kinds.length === 0) throw new TypeError("WorkerRunner: handlers must name at least one job kind");
    this.#concurrency = positiveInt("concurrency", options.concurrency ?? 1);
    this.#prefix = options.workerIdPrefix ?? `${hostname()}:${process.pid}`;
    this.#node = options.node;
    this.#pollMs = positiveInt("pollIntervalMs", options.pollIntervalMs ?? 1000);
    this.#leaseMs = positiveInt("leaseMs", options.leaseMs ?? queue.leaseMs);
    this.#heartbeatMs = positiveInt("heartbeatIntervalMs", options.heartbeatIntervalMs ?? Math.max(1, Math.floor(this.#leaseMs / 3)));
    if (this.#heartbeatMs >= this.#leaseMs) {
      throw new RangeError(`WorkerRunner: heartbeatIntervalMs (${this.#heartbeatMs}) must be shorter than leaseMs (${this.#leaseMs}) or every lease expires`);
    }
    this.#sweepMs = positiveInt("sweepIntervalMs", options.sweepIntervalMs ?? this.#leaseMs);
    this.#keyLimits = options.keyLimits ?? {};
    this.#isRetryable = options.isRetryable ?? (() => true);
    this.#clock = options.clock ?? systemClock;
    this.#log = options.logger ?? createLogger();
    this.#notify = options.notify;
    this.#lanes = options.lanes ?? [];
    const laned = new Set<JobKind>();
    for (const lane of this.#lanes) {
      positiveInt(`lanes.${lane.name}.concurrency`, lane.concurrency);
      for (const kind of lane.kinds) {
        if (!this.#kinds.includes(kind)) throw new TypeError(`WorkerRunner: lane ${lane.name} takes "${kind}" jobs, which have no handler`);
        if (laned.has(kind)) throw new TypeError(`WorkerRunner: "${kind}" jobs are in two lanes; give each kind one lane`);
        laned.add(kind);
      }
    }
    this.#workerKinds = this.#kinds.filter((k) => !laned.has(k));
  }

  /** Subscribes to an event; returns the unsubscribe function. */
  on<E extends RunnerEvent>(event: E, listener: Listener<E>): () => void {
    let set = this.#listeners.get(event);
    if (!set) this.#listeners.set(event, (set = new Set()));
    set.add(listener as Listener<never>);
    return () => set.delete(listener as Listener<never>);
  }

  /** Recovers expired leases, then starts the workers and the periodic recovery sweep. */
  start(): void {
    if (this.#state !== "new") throw new Error(`WorkerRunner.start: already ${this.#state}; create a new runner to start again`);
    this.#state = "running";
    // The workers lease once the first sweep returned what a dead process left (it never rejects).
    const recovered = this.#sweep();
    this.#scheduleSweep();
    if (this.#workerKinds.length > 0) {
      for (let i = 1; i <= this.#concurrency; i++) this.#loops.push(recovered.then(() => this.#loop(`${this.#prefix}:worker-${i}`)));
    }
    for (const lane of this.#lanes) this.#loops.push(recovered.then(() => this.#laneLoop(lane)));
  }

  /** Wakes idle workers at once (call after enqueue, so a new job does not wait for the next poll). */
  notify(): void {
    for (const wake of [...this.#wakers]) wake();
  }

  /**
   * Stops leasing and waits up to graceMs for running handlers; then aborts their signals and
   * waits for them to settle. Jobs aborted this way go back to the queue without using an attempt.
   * Calling it again returns the first call's result. A handler that ignores its signal keeps
   * this pending; its lease then expires and the next start recovers the job.
   */
  stop(graceMs: number): Promise<StopResult> {
    if (!(Number.isFinite(graceMs) && graceMs >= 0)) throw new RangeError(`WorkerRunner.stop: graceMs must be a finite number >= 0, got ${graceMs}`);
    // A second SIGTERM, or stop from two places, waits for the same shutdown.
    this.#stopping ??= this.#shutdown(graceMs);
    return this.#stopping;
  }

  async #shutdown(graceMs: number): Promise<StopResult> {
    if (this.#state === "new") {
      this.#state = "stopped";
      return { aborted: 0 };
    }
    this.#state = "stopping";
    this.#cancelSweep?.();
    this.notify();
    const all = Promise.all(this.#loops);
    let cancelGrace: () => void = () => {};
    const graceOver = new Promise<"grace">((resolve) => (cancelGrace = this.#clock.setTimer(() => resolve("grace"), graceMs)));
    const first = await Promise.race([all.then(() => "done" as const), graceOver]);
    cancelGrace();
    let aborted = 0;
    if (first === "grace") {
      aborted = this.#running.size;
      this.#stopController.abort(new Error(`worker runner stopped: the grace period of ${graceMs} ms ran out`));
      await all;
    }
    // The queue may be closed once stop resolves: no sweep may still be talking to it.
    await this.#sweepRun;
    this.#state = "stopped";
    return { aborted };
  }

  async #loop(workerId: string): Promise<void> {
    while (this.#state === "running") {
      const job = await this.#leaseOne(workerId, this.#workerKinds, this.#keyLimits);
      if (job === "stop") return;
      if (job) await this.#run(job, workerId);
    }
  }

  /**
   * A lane's loop: leases while fewer than its concurrency run (each run under the id of a
   * free slot), waits for a slot otherwise; on stop, waits for its runs.
   */
  async #laneLoop(lane: RunnerLane): Promise<void> {
    const free = Array.from({ length: lane.concurrency }, (_, i) => lane.concurrency - i); // pop() gives slot 1 first
    const running = new Set<Promise<void>>();
    let slotFreed: (() => void) | undefined;
    while (this.#state === "running") {
      if (free.length === 0) {
        await new Promise<void>((resolve) => (slotFreed = resolve));
        continue;
      }
      const slot = free.pop()!;
      const workerId = `${this.#prefix}:${lane.name}-${slot}`;
      const job = await this.#leaseOne(workerId, lane.kinds, lane.keyLimits ?? {});
      if (job === undefined || job === "stop") {
        free.push(slot);
        if (job === "stop") break;
        continue;
      }
      const run: Promise<void> = this.#run(job, workerId).finally(() => {
        free.push(slot);
        running.delete(run);
        slotFreed?.();
        slotFreed = undefined;
      });
      running.add(run);
    }
    await Promise.all(running);
  }

  /**
   * One lease for a worker or lane: the job, undefined after idling (nothing to do, a dead
   * payload, the queue not answering), or "stop" when a job leased as stop began went back.
   */
  async #leaseOne(workerId: string, kinds: readonly JobKind[], keyLimits: Readonly<Record<string, number>>): Promise<LeasedJob | undefined | "stop"> {
    let result;
    try {
      result = await this.#queue.lease({ workerId, kinds, leaseMs: this.#leaseMs, keyLimits, ...(this.#node ? { node: this.#node } : {}) });
      this.#answered();
    } catch (error) {
      await this.#idle(this.#unanswered(error, "lease"));
      return undefined;
    }
    if (result !== null && result.status === "leased" && this.#state !== "running") {
      // Leased while stop began (a slow queue): give it back untouched rather than start it.
      await this.#queue.defer(result.job, { reason: "runner stopped" }).catch((error: unknown) => this.#emit("runner:error", { error, during: `defer job ${result.job.id}` }));
      return "stop";
    }
    if (result === null) await this.#idle();
    else if (result.status === "rejected") {
      this.#log.error({ jobId: result.job.id, kind: result.job.kind, err: result.error }, "job dead: invalid payload");
      this.#emit("job:dead", { job: result.job, error: result.error });
    } else return result.job;
    return undefined;
  }

  /** Waits for the poll interval (or ms), a notify() or stop. */
  #idle(ms = this.#pollMs): Promise<void> {
    if (this.#state !== "running") return Promise.resolve();
    return new Promise((resolve) => {
      const wake = (): void => {
        cancel();
        this.#wakers.delete(wake);
        resolve();
      };
      const cancel = this.#clock.setTimer(wake, ms);
      this.#wakers.add(wake);
    });
  }

  /**
   * A lease or sweep call failed: the first failure of an outage is logged (once, not per
   * worker and poll), each is reported as runner:error. Returns how long to wait before trying
   * again: the poll interval doubling per failure in a row, at most OUTAGE_RETRY_CAP_MS.
   */
  #unanswered(error: unknown, during: string): number {
    const failures = (this.#outage?.failures ?? 0) + 1;
    if (!this.#outage) {
      this.#outage = { since: this.#clock.now(), failures };
      this.#log.error({ err: error, during, queue: this.#queue.where }, "the queue does not answer; retrying with backoff (running jobs continue)");
    } else this.#outage.failures = failures;
    this.#emit("runner:error", { error, during });
    const cap = Math.max(this.#pollMs, OUTAGE_RETRY_CAP_MS);
    return backoffDelay(Math.min(failures - 1, 30), { baseMs: this.#pollMs, capMs: cap, jitter: 0.2 }, Math.random);
  }

  /** A lease or sweep call succeeded: an outage, if any, is over. */
  #answered(): void {
    if (!this.#outage) return;
    const downMs = this.#clock.now() - this.#outage.since;
    this.#outage = undefined;
    this.#log.info({ downMs, queue: this.#queue.where }, "the queue answers again");
    this.#emit("runner:recovered", { downMs });
  }

  async #run(job: LeasedJob, workerId: string): Promise<void> {
    const controller = new AbortController();
    const onStop = (): void => controller.abort(this.#stopController.signal.reason);
    this.#stopController.signal.addEventListener("abort", onStop, { once: true });
    this.#running.add(controller);
    const log = this.#log.child({ job: job.name, kind: job.kind, jobId: job.id, attempt: job.attempts });
    let lost: LeaseLostError | undefined;
    const onLost = (error: LeaseLostError): void => {
      lost ??= error;
      controller.abort(error);
      log.warn({ err: error }, "lease lost; dropping this run's result");
      this.#emit("lease:lost", { jobId: job.id, workerId, error });
    };
    const stopHeartbeat = this.#startHeartbeat(job, onLost);
    this.#emit("job:leased", { job, workerId });
    log.info("job started");
    const started = this.#clock.now();
    let outcome: { ok: true; result: HandlerResult | void } | { ok: false; error: unknown };
    try {
      const handler = this.#handlers[job.kind] as JobHandler<JobKind>;
      outcome = { ok: true, result: await handler(job as never, { signal: controller.signal, workerId }) };
    } catch (error) {
      outcome = { ok: false, error };
    } finally {
      stopHeartbeat();
      this.#running.delete(controller);
      this.#stopController.signal.removeEventListener("abort", onStop);
    }
    if (lost) return;
    try {
      await this.#settle(job, workerId, outcome, this.#clock.now() - started, log, controller.signal.aborted);
    } catch (error) {
      if (error instanceof LeaseLostError) onLost(error);
      else this.#emit("runner:error", { error, during: `settle job ${job.id}` });
    }
  }

  /** Records the outcome in the queue (one transaction, with its notifications) and emits the matching event. */
  async #settle(
    job: LeasedJob,
    workerId: string,
    outcome: { ok: true; result: HandlerResult | void } | { ok: false; error: unknown },
    durationMs: number,
    log: Logger,
    aborted: boolean,
  ): Promise<void> {
    if (outcome.ok) {
      const transfers = outcome.result?.transfers ?? [];
      const bytes = transfers.reduce((sum, t) => sum + t.bytes, 0);
      const done = await this.#queue.complete(job, { transfers, notify: (row) => this.#notifications({ outcome: "succeeded", job: row, durationMs, bytes, files: transfers.length }) });
      log.info({ durationMs, bytes, files: transfers.length }, "job succeeded");
      this.#emit("job:succeeded", { job: done, workerId, durationMs, bytes });
      return;
    }
    const { error } = outcome;
    if (error instanceof RetryLaterError || (aborted && this.#state !== "running")) {
      const reason = error instanceof RetryLaterError ? error.message : "runner stopped";
      const delayMs = error instanceof RetryLaterError ? error.delayMs : 0;
      const back = await this.#queue.defer(job, { delayMs, reason });
      log.info({ durationMs, reason, delayMs }, "job deferred");
      this.#emit("job:deferred", { job: back.job, reason, runAfter: back.job.runAfter });
      return;
    }
    const result: RetryOutcome = await this.#queue.fail(job, error, {
      retryable: this.#isRetryable(error),
      notify: (r) => this.#notifications(r.outcome === "dead" ? { outcome: "dead", job: r.job, error, durationMs } : { outcome: "failed", job: r.job, error, durationMs, runAfter: r.job.runAfter }),
    });
    if (result.outcome === "dead") {
      log.error({ durationMs, err: error }, "job dead");
      this.#emit("job:dead", { job: result.job, error });
    } else {
      log.warn({ durationMs, err: error, runAfter: result.job.runAfter }, "job failed; will retry");
      this.#emit("job:failed", { job: result.job, error, runAfter: result.job.runAfter, ...(result.mergedInto ? { mergedInto: result.mergedInto } : {}) });
    }
  }

  /** notify, inside the settling transaction: a throw would roll the outcome back, so none escapes. */
  #notifications(run: SettledRun): readonly NotificationInput[] {
    try {
      return this.#notify?.(run) ?? [];
    } catch (err) {
      this.#log.error({ err, jobId: run.job.id }, "notify threw; the job's outcome stands without its notifications");
      return [];
    }
  }

  /**
   * Heartbeats every heartbeatIntervalMs until the returned function is called. A beat that
   * fails for another reason than a changed token (the queue does not answer) is reported and
   * tried again at the next beat; once the lease would have run out meanwhile, the run is lost:
   * the sweep of any node may already have given the job to another worker.
   */
  #startHeartbeat(job: LeasedJob, onLost: (error: LeaseLostError) => void): () => void {
    let cancel: (() => void) | undefined;
    let stopped = false;
    /** The latest expiry the queue confirmed. */
    let expiresAt = job.leaseExpiresAt ?? this.#clock.now() + this.#leaseMs;
    const beat = async (): Promise<void> => {
      if (stopped) return;
      try {
        expiresAt = Math.max(expiresAt, await this.#queue.heartbeat(job, { leaseMs: this.#leaseMs }));
      } catch (error) {
        // A beat still in flight when the run settled: its answer no longer matters.
        if (stopped) return;
        if (error instanceof LeaseLostError) return onLost(error);
        this.#emit("runner:error", { error, during: `heartbeat job ${job.id}` });
        if (this.#clock.now() >= expiresAt) {
          onLost(new LeaseLostError(job.id, "heartbeat", { reason: `the queue did not renew it before it ran out: ${(error as Error).message ?? String(error)}`, cause: error }));
        }
      }
    };
    // The next beat is set before this one is answered: timers stay regular, and a slow
    // answer (a Postgres failover) does not push every later beat back.
    const tick = (): void => {
      if (stopped) return;
      cancel = this.#clock.setTimer(tick, this.#heartbeatMs);
      void beat();
    };
    cancel = this.#clock.setTimer(tick, this.#heartbeatMs);
    // Lease expiry is wall time (it is persisted), timers are monotonic: after the wall clock
    // jumps forward, the sweep could find this live job "expired" before its next beat.
    this.#beats.add(beat);
    return () => {
      stopped = true;
      this.#beats.delete(beat);
      cancel?.();
    };
  }

  /** Renews this runner's leases, then returns expired ones to the queue; never rejects. One at a time. */
  #sweep(): Promise<void> {
    this.#sweepRun ??= this.#sweepOnce().finally(() => (this.#sweepRun = undefined));
    return this.#sweepRun;
  }

  async #sweepOnce(): Promise<void> {
    let recovered: RetryOutcome[];
    try {
      await Promise.all([...this.#beats].map((beat) => beat()));
      recovered = await this.#queue.recoverExpiredLeases();
      this.#answered();
    } catch (error) {
      this.#unanswered(error, "recover expired leases");
      return;
    }
    for (const r of recovered) {
      this.#log.warn({ jobId: r.job.id, job: r.job.name, outcome: r.outcome }, "lease expired; job recovered");
      this.#emit("lease:expired", { job: r.job, outcome: r.outcome });
    }
    if (recovered.some((r) => r.outcome === "retry")) this.notify();
  }

  #scheduleSweep(): void {
    this.#cancelSweep = this.#clock.setTimer(() => {
      if (this.#state !== "running") return;
      this.#scheduleSweep();
      void this.#sweep();
    }, this.#sweepMs);
  }

  /** Calls every listener; a throwing or rejecting listener is logged and can never reach a worker. */
  #emit<E extends RunnerEvent>(event: E, payload: RunnerEventMap[E]): void {
    for (const listener of this.#listeners.get(event) ?? []) {
      try {
        const ret = (listener as Listener<E>)(payload) as unknown;
        if (ret instanceof Promise) ret.catch((err: unknown) => this.#log.error({ err, event }, "runner event listener rejected"));
      } catch (err) {
        this.#log.error({ err, event }, "runner event listener threw");
      }
    }
  }
}

function positiveInt(what: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`WorkerRunner: ${what} must be a positive integer, got ${value}`);
  return value;
}
