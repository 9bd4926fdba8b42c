import { hostname } from "node:os";
import type { Logger } from "pino";
import { createLogger } from "../log/index.js";
import { LeaseLostError, RetryLaterError } from "./errors.js";
import type { JobStore, RetryOutcome } from "./JobStore.js";
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
  /** The store failed (e.g. the disk is full); the runner keeps going and the lease recovery covers the job. */
  "runner:error": { readonly error: unknown; readonly during: string };
}

/**
 * A run's outcome as onSettle sees it, inside the transaction that records it. `job` is the
 * row after the write; for a failed run that was folded into a waiting twin, the twin.
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
  /** Prefix of each worker's id (recorded as lease owner); default "host:pid". */
  readonly workerIdPrefix?: string;
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
   * Called inside the transaction that records a run's success or failure, so what it writes to
   * the same database (hook notifications) commits with the outcome or not at all. Synchronous;
   * its errors are logged and never change the outcome.
   */
  readonly onSettle?: (run: SettledRun) => void;
}

/** Result of stop: how many running jobs had to be aborted when the grace period ran out. */
export interface StopResult {
  readonly aborted: number;
}

type Listener<E extends RunnerEvent> = (payload: RunnerEventMap[E]) => void;

/** N concurrent workers over a JobStore: lease, heartbeat, run the kind's handler, complete or fail. */
export class WorkerRunner {
  // parameters
  readonly #store: JobStore;
  readonly #handlers: JobHandlers;
  readonly #kinds: JobKind[];
  readonly #concurrency: number;
  readonly #prefix: string;
  readonly #pollMs: number;
  readonly #leaseMs: number;
  readonly #heartbeatMs: number;
  readonly #sweepMs: number;
  readonly #keyLimits: Readonly<Record<string, number>>;
  readonly #isRetryable: (error: unknown) => boolean;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #onSettle: ((run: SettledRun) => void) | undefined;
  // internal state
  readonly #listeners = new Map<RunnerEvent, Set<Listener<never>>>();
  readonly #wakers = new Set<() => void>();
  readonly #running = new Set<AbortController>();
  /** Renew now, one per running job: the sweep renews its own leases before judging any expired. */
  readonly #beats = new Set<() => void>();
  readonly #stopController = new AbortController();
  #loops: Promise<void>[] = [];
  #cancelSweep: (() => void) | undefined;
  #stopping: Promise<StopResult> | undefined;
  #state: "new" | "running" | "stopping" | "stopped" = "new";

  constructor(store: JobStore, options: WorkerRunnerOptions) {
    this.#store = store;
    this.#handlers = options.handlers;
    this.#kinds = (Object.keys(options.handlers) as JobKind[]).filter((k) => options.handlers[k] !== undefined);
    if (this.#kinds.length === 0) throw new TypeError("WorkerRunner: handlers must name at least one job kind");
    this.#concurrency = positiveInt("concurrency", options.concurrency ?? 1);
    this.#prefix = options.workerIdPrefix ?? `${hostname()}:${process.pid}`;
    this.#pollMs = positiveInt("pollIntervalMs", options.pollIntervalMs ?? 1000);
    this.#leaseMs = positiveInt("leaseMs", options.leaseMs ?? store.leaseMs);
    this.#heartbeatMs = positiveInt("heartbeatIntervalMs", options.heartbeatIntervalMs ?? Math.max(1, Math.floor(this.#leaseMs / 3)));
    if (this.#heartbeatMs >= this.#leaseMs) {
      throw new RangeError(`WorkerRunner: heartbeatIntervalMs (${this.#heartbeatMs}) must be shorter than leaseMs (${this.#leaseMs}) or every lease expires`);
    }
    this.#sweepMs = positiveInt("sweepIntervalMs", options.sweepIntervalMs ?? this.#leaseMs);
    this.#keyLimits = options.keyLimits ?? {};
    this.#isRetryable = options.isRetryable ?? (() => true);
    this.#clock = options.clock ?? systemClock;
    this.#log = options.logger ?? createLogger();
    this.#onSettle = options.onSettle;
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
    this.#sweep();
    this.#scheduleSweep();
    for (let i = 1; i <= this.#concurrency; i++) this.#loops.push(this.#loop(`${this.#prefix}:w${i}`));
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
    this.#state = "stopped";
    return { aborted };
  }

  async #loop(workerId: string): Promise<void> {
    while (this.#state === "running") {
      let result;
      try {
        result = this.#store.lease({ workerId, kinds: this.#kinds, leaseMs: this.#leaseMs, keyLimits: this.#keyLimits });
      } catch (error) {
        this.#emit("runner:error", { error, during: "lease" });
        await this.#idle();
        continue;
      }
      if (result === null) await this.#idle();
      else if (result.status === "rejected") {
        this.#log.error({ jobId: result.job.id, kind: result.job.kind, err: result.error }, "job dead: invalid payload");
        this.#emit("job:dead", { job: result.job, error: result.error });
      } else await this.#run(result.job, workerId);
    }
  }

  /** Waits for the poll interval, a notify() or stop. */
  #idle(): Promise<void> {
    if (this.#state !== "running") return Promise.resolve();
    return new Promise((resolve) => {
      const wake = (): void => {
        cancel();
        this.#wakers.delete(wake);
        resolve();
      };
      const cancel = this.#clock.setTimer(wake, this.#pollMs);
      this.#wakers.add(wake);
    });
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
      this.#settle(job, workerId, outcome, this.#clock.now() - started, log, controller.signal.aborted);
    } catch (error) {
      if (error instanceof LeaseLostError) onLost(error);
      else this.#emit("runner:error", { error, during: `settle job ${job.id}` });
    }
  }

  /** Records the outcome in the store (one transaction) and emits the matching event. */
  #settle(
    job: LeasedJob,
    workerId: string,
    outcome: { ok: true; result: HandlerResult | void } | { ok: false; error: unknown },
    durationMs: number,
    log: Logger,
    aborted: boolean,
  ): void {
    if (outcome.ok) {
      const transfers = outcome.result?.transfers ?? [];
      const bytes = transfers.reduce((sum, t) => sum + t.bytes, 0);
      const done = this.#store.complete(job, { transfers, within: (row) => this.#settled({ outcome: "succeeded", job: row, durationMs, bytes, files: transfers.length }) });
      log.info({ durationMs, bytes, files: transfers.length }, "job succeeded");
      this.#emit("job:succeeded", { job: done, workerId, durationMs, bytes });
      return;
    }
    const { error } = outcome;
    if (error instanceof RetryLaterError || (aborted && this.#state !== "running")) {
      const reason = error instanceof RetryLaterError ? error.message : "runner stopped";
      const delayMs = error instanceof RetryLaterError ? error.delayMs : 0;
      const back = this.#store.defer(job, { delayMs, reason });
      log.info({ durationMs, reason, delayMs }, "job deferred");
      this.#emit("job:deferred", { job: back.job, reason, runAfter: back.job.runAfter });
      return;
    }
    const result: RetryOutcome = this.#store.fail(job, error, {
      retryable: this.#isRetryable(error),
      within: (r) => this.#settled(r.outcome === "dead" ? { outcome: "dead", job: r.job, error, durationMs } : { outcome: "failed", job: r.job, error, durationMs, runAfter: r.job.runAfter }),
    });
    if (result.outcome === "dead") {
      log.error({ durationMs, err: error }, "job dead");
      this.#emit("job:dead", { job: result.job, error });
    } else {
      log.warn({ durationMs, err: error, runAfter: result.job.runAfter }, "job failed; will retry");
      this.#emit("job:failed", { job: result.job, error, runAfter: result.job.runAfter, ...(result.mergedInto ? { mergedInto: result.mergedInto } : {}) });
    }
  }

  /** onSettle, inside the settling transaction: a throw would roll the outcome back, so none escapes. */
  #settled(run: SettledRun): void {
    try {
      this.#onSettle?.(run);
    } catch (err) {
      this.#log.error({ err, jobId: run.job.id }, "onSettle threw; the job's outcome stands");
    }
  }

  /** Heartbeats every heartbeatIntervalMs until the returned function is called. */
  #startHeartbeat(job: LeasedJob, onLost: (error: LeaseLostError) => void): () => void {
    let cancel: (() => void) | undefined;
    let stopped = false;
    const tick = (): void => {
      if (stopped) return;
      try {
        this.#store.heartbeat(job, { leaseMs: this.#leaseMs });
      } catch (error) {
        if (error instanceof LeaseLostError) return onLost(error);
        // A busy or failing store: keep trying; the lease has room for two more beats.
        this.#emit("runner:error", { error, during: `heartbeat job ${job.id}` });
      }
      cancel = this.#clock.setTimer(tick, this.#heartbeatMs);
    };
    cancel = this.#clock.setTimer(tick, this.#heartbeatMs);
    // Lease expiry is wall time (it is persisted), timers are monotonic: after the wall clock
    // jumps forward, the sweep could find this live job "expired" before its next beat.
    const beat = (): void => {
      if (stopped) return;
      try {
        this.#store.heartbeat(job, { leaseMs: this.#leaseMs });
      } catch (error) {
        if (error instanceof LeaseLostError) onLost(error);
      }
    };
    this.#beats.add(beat);
    return () => {
      stopped = true;
      this.#beats.delete(beat);
      cancel?.();
    };
  }

  #sweep(): void {
    let recovered: RetryOutcome[];
    for (const beat of this.#beats) beat();
    try {
      recovered = this.#store.recoverExpiredLeases();
    } catch (error) {
      this.#emit("runner:error", { error, during: "recover expired leases" });
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
      this.#sweep();
      this.#scheduleSweep();
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
