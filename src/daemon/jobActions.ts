import type { Job, Queue } from "../queue/index.js";
import type { ResolvedConfig } from "./config.js";
import { mirrorDedupeKey } from "./scheduler.js";

/** Why an operator action was refused: `unknown` (no such job or run, HTTP 404) or `conflict` (not possible now, HTTP 409). */
export class JobActionError extends Error {
  override readonly name = "JobActionError";
  constructor(readonly kind: "unknown" | "conflict", message: string) {
    super(message);
  }
}

/** A dead run as the API and `ferry jobs` show it. */
export interface DeadRunView {
  readonly id: number;
  readonly job: string;
  readonly kind: string;
  /** The outbox file of an upload run; null for a mirror run. */
  readonly path: string | null;
  readonly attempts: number;
  readonly lastError: string | null;
  readonly diedAt: string | null;
}

/** What an action did, for the API's JSON and the CLI's line. */
export interface ActionResult {
  readonly job?: string;
  readonly message: string;
  readonly [extra: string]: unknown;
}

/** Something that happened through an action, for the event stream. */
export interface ActionEvent {
  readonly type: "job:run-requested" | "job:paused" | "job:resumed" | "job:retried" | "job:cancelled";
  readonly job?: string;
  readonly ids?: readonly number[];
}

/** Options of JobActions. */
export interface JobActionsOptions {
  readonly config: ResolvedConfig;
  readonly queue: Queue;
  /** Wakes the workers after a change (the daemon's runner.notify); the CLI has none: the daemon's poll finds the change. */
  readonly notify?: () => void;
  /** Hears each change (the daemon's event stream). */
  readonly onEvent?: (event: ActionEvent) => void;
}

/**
 * The operator's actions on the queue, shared by the HTTP API (inside the daemon) and
 * `ferry jobs` (any shell on the box, acting on the queue database directly): run now, pause,
 * resume, retry dead runs, cancel waiting runs. Everything is persisted in the database, so
 * the daemon sees an action of the CLI at its next poll and a pause survives a restart.
 */
export class JobActions {
  readonly #o: JobActionsOptions;

  constructor(options: JobActionsOptions) {
    this.#o = options;
  }

  /** Queues a run of a mirror now (after the running one, if any), or makes an upload job's waiting files runnable now. */
  async run(name: string): Promise<ActionResult> {
    const job = this.#job(name);
    if (await this.isPaused(name)) throw new JobActionError("conflict", `job ${name} is paused; resume it first (ferry jobs resume ${name})`);
    if (job.kind === "upload") {
      const woken = await this.#o.queue.wake([name]);
      const waiting = (await this.#o.queue.listJobs({ name, states: ["queued", "failed"], limit: 1 })).length;
      if (waiting === 0) throw new JobActionError("conflict", `upload job ${name} runs when a file is stable in ${job.watch}; no upload of it is waiting`);
      this.#changed({ type: "job:run-requested", job: name });
      return { job: name, woken, message: `${name}: waiting uploads run now` };
    }
    const { job: row, created } = await this.#o.queue.enqueue({ kind: "mirror", payload: { job: name }, dedupeKey: mirrorDedupeKey(name), concurrencyKey: job.remote });
    await this.#o.queue.wake([name]); // a run waiting for its retry goes now too
    this.#changed({ type: "job:run-requested", job: name, ids: [row.id] });
    return { job: name, id: row.id, created, message: created ? `${name}: run ${row.id} queued` : `${name}: run ${row.id} was already waiting; it runs now` };
  }

  /** Pauses a job: its waiting and future runs wait until resume; a running run finishes. */
  async pause(name: string): Promise<ActionResult> {
    this.#job(name);
    const changed = await this.#o.queue.control.pause(name);
    const running = (await this.#o.queue.listJobs({ name, states: ["leased"], limit: 1000 })).length;
    if (changed) this.#changed({ type: "job:paused", job: name });
    const tail = running > 0 ? `; ${running} running run(s) continue to their end` : "";
    return { job: name, paused: true, changed, message: `${name}: ${changed ? "paused" : "was already paused"}${tail}` };
  }

  /** Resumes a paused job: its waiting runs become leasable again. */
  async resume(name: string): Promise<ActionResult> {
    this.#job(name);
    const changed = await this.#o.queue.control.resume(name);
    if (changed) this.#changed({ type: "job:resumed", job: name });
    return { job: name, paused: false, changed, message: `${name}: ${changed ? "resumed" : "was not paused"}` };
  }

  /** Retries one dead run (by id) or all of them, each with a fresh set of attempts. */
  async retry(filter: { id?: number } = {}): Promise<ActionResult> {
    if (filter.id !== undefined && (await this.#o.queue.getJob(filter.id))?.state !== "dead") {
      throw new JobActionError("unknown", `no dead run with id ${filter.id} (ferry status --json or GET /api/v1/status lists them under dead)`);
    }
    const { retried, folded } = await this.#o.queue.control.retryDead(filter);
    const ids = [...retried, ...folded.map((f) => f.into)];
    if (ids.length > 0) this.#changed({ type: "job:retried", ids });
    return { retried, folded, message: ids.length === 0 ? "no dead runs" : `${ids.length} dead run(s) queued again` };
  }

  /** Removes the waiting runs of a job (or the one with this id); a running run is not touched. */
  async cancel(name: string, id?: number): Promise<ActionResult> {
    this.#job(name);
    const removed = await this.#o.queue.control.cancelWaiting({ name, ...(id !== undefined ? { id } : {}) });
    if (removed.length === 0) throw new JobActionError("conflict", `${name}: no waiting run${id !== undefined ? ` with id ${id}` : ""} to cancel (a running run is not cancelled)`);
    const ids = removed.map((j) => j.id);
    this.#changed({ type: "job:cancelled", job: name, ids });
    const kept = removed.some((j) => j.kind === "upload") ? "; cancelled outbox files stay where they are and are queued again at the next start" : "";
    return { job: name, cancelled: ids, message: `${name}: ${ids.length} waiting run(s) cancelled${kept}` };
  }

  /** Whether a config job is paused. */
  async isPaused(name: string): Promise<boolean> {
    return (await this.#o.queue.control.paused()).some((p) => p.name === name);
  }

  /** Paused config jobs with the time they were paused. */
  async paused(): Promise<{ name: string; pausedAt: string }[]> {
    return (await this.#o.queue.control.paused()).map((p) => ({ name: p.name, pausedAt: new Date(p.pausedAt).toISOString() }));
  }

  /** Dead runs, newest first. */
  async dead(limit = 100): Promise<DeadRunView[]> {
    return (await this.#o.queue.control.dead({ limit })).map(deadView);
  }

  #job(name: string): ResolvedConfig["mirrors"][number] | ResolvedConfig["uploads"][number] {
    const c = this.#o.config;
    const job = c.mirrors.find((j) => j.name === name) ?? c.uploads.find((j) => j.name === name);
    if (!job) {
      const known = [...c.mirrors, ...c.uploads].map((j) => j.name).join(", ");
      throw new JobActionError("unknown", `no job named "${name}" in ${c.file} (jobs: ${known})`);
    }
    return job;
  }

  #changed(event: ActionEvent): void {
    this.#o.notify?.();
    this.#o.onEvent?.(event);
  }
}

function deadView(j: Job): DeadRunView {
  return {
    id: j.id, job: j.name, kind: j.kind, path: j.kind === "upload" ? j.payload.path : null, attempts: j.attempts,
    lastError: j.lastError, diedAt: j.finishedAt === null ? null : new Date(j.finishedAt).toISOString(),
  };
}
