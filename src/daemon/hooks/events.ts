import type { Job, NotificationInput, SettledRun, WorkerRunner } from "../../queue/index.js";
import type { RemoteTrouble } from "../remotes.js";
import { remoteOfConcurrencyKey } from "../jobs/outboxLease.js";
import type { HookFacts } from "./facts.js";
import type { HookDispatcher } from "./HookDispatcher.js";

/** What the facts say about a configured job. */
export interface HookJobInfo {
  readonly kind: "mirror" | "upload";
  readonly remote: string;
  /** upload: local → remote; download: remote → local. */
  readonly direction: "upload" | "download";
}

/** One verified file, as a job handler reports it to the hooks. */
export interface TransferredFile {
  /** Where it now is (remote path of an upload, local path of a download). */
  readonly path: string;
  /** Where it came from. */
  readonly source: string;
  readonly bytes: number;
  /** A hash algorithm, or "size only". */
  readonly verified: string;
  readonly hash?: { readonly algorithm: string; readonly value: string };
}

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/**
 * Turns what the daemon sees into hook events: a run's start and outcome (from the worker
 * runner, the outcome inside the transaction that records it), each verified file (from the
 * job handlers, before their job completes), and remotes going down or coming back.
 */
export class HookEvents {
  // parameters
  readonly #dispatcher: HookDispatcher;
  #jobs: (name: string) => HookJobInfo | undefined;
  readonly #now: () => number;
  readonly #distributed: (job: Job) => boolean;
  // internal state
  #troubled = new Map<string, string>();

  /**
   * `distributed` says whether a `mirror` job is the plan step of a run split into parts (issue
   * 16): its success does not end the run; the run's `mirror-finish` reports the outcome.
   */
  constructor(dispatcher: HookDispatcher, jobs: (name: string) => HookJobInfo | undefined, now: () => number = Date.now, distributed: (job: Job) => boolean = () => false) {
    this.#dispatcher = dispatcher;
    this.#jobs = jobs;
    this.#now = now;
    this.#distributed = distributed;
  }

  /** The job lookup of a reloaded config. */
  setJobs(jobs: (name: string) => HookJobInfo | undefined): void {
    this.#jobs = jobs;
  }

  /**
   * Listens to the runner: run.started at each lease; run.failed for a run put back because its
   * remote is down (no attempt is used, but the run did not happen: a healthcheck must not see
   * only starts while the remote stays down); job.dead for an expired lease that used the last
   * attempt; and a wake after each outcome. A distributed run starts with its plan job; its
   * parts and finish are steps of that run, not runs of their own.
   */
  attach(runner: Pick<WorkerRunner, "on">): void {
    runner.on("job:leased", ({ job }) => {
      if (job.kind === "mirror-part" || job.kind === "mirror-finish") return;
      void this.#dispatcher.emit(this.#run("run.started", job));
    });
    runner.on("job:deferred", ({ job, reason, runAfter }) => {
      // A finish waiting for its parts is deferred every few seconds: not a run put back.
      if (job.kind === "mirror-part" || job.kind === "mirror-finish") return;
      const remote = this.#jobs(job.name)?.remote ?? (job.concurrencyKey === null ? null : remoteOfConcurrencyKey(job.concurrencyKey));
      if (remote === null || !this.#troubled.has(remote)) return;
      void this.#dispatcher.emit({ ...this.#run("run.failed", job), error: `put back without using an attempt: ${reason}`, retryAt: new Date(runAfter).toISOString() });
    });
    runner.on("lease:expired", ({ job, outcome }) => {
      if (outcome === "dead") void this.#dispatcher.emit({ ...this.#run("job.dead", job), error: job.lastError ?? "its lease expired" });
    });
    for (const e of ["job:succeeded", "job:failed", "job:dead"] as const) runner.on(e, () => this.#dispatcher.wake());
  }

  /** The WorkerRunner's notify: the notifications of the outcome, for the configured hooks, which the queue stores in its transaction. */
  settled(run: SettledRun): NotificationInput[] {
    // A part only speaks when it goes dead: then its run cannot succeed (the finish reports that run.failed).
    if (run.job.kind === "mirror-part") {
      return run.outcome === "dead" ? this.#dispatcher.notifications([{ ...this.#run("job.dead", run.job), error: run.job.lastError ?? message(run.error) }]) : [];
    }
    // The plan step of a distributed run succeeded: the run goes on in its parts.
    if (run.outcome === "succeeded" && run.job.kind === "mirror" && this.#distributed(run.job)) return [];
    if (run.outcome === "succeeded" && run.job.kind === "mirror-finish") {
      // The run's files and bytes are its parts': the finish itself only deletes and saves the state.
      const totals = run.job.payload.totals;
      return this.#dispatcher.notifications([{ ...this.#run("run.succeeded", run.job), durationMs: run.durationMs, bytes: totals.bytes, files: totals.files }]);
    }
    const base = this.#run(run.outcome === "succeeded" ? "run.succeeded" : "run.failed", run.job);
    switch (run.outcome) {
      case "succeeded":
        return this.#dispatcher.notifications([{ ...base, durationMs: run.durationMs, bytes: run.bytes, files: run.files }]);
      case "failed":
        return this.#dispatcher.notifications([{ ...base, durationMs: run.durationMs, error: message(run.error), retryAt: new Date(run.runAfter).toISOString() }]);
      case "dead":
        return this.#dispatcher.notifications([
          { ...base, durationMs: run.durationMs, error: message(run.error) },
          { ...this.#run("job.dead", run.job), error: run.job.lastError ?? message(run.error) },
        ]);
      default: {
        const never: never = run;
        throw new Error(`unknown run outcome ${JSON.stringify(never)}`);
      }
    }
  }

  /** file.transferred for each file a job run published (stored before the job completes). */
  transferred(jobName: string, files: readonly TransferredFile[]): Promise<void> {
    if (files.length === 0) return Promise.resolve();
    const info = this.#jobs(jobName);
    const time = new Date(this.#now()).toISOString();
    return this.#dispatcher.emit(...files.map((f): HookFacts => ({
      event: "file.transferred", time, job: jobName, ...(info ? { kind: info.kind, remote: info.remote, direction: info.direction } : {}),
      path: f.path, source: f.source, bytes: f.bytes, verified: f.verified,
      ...(f.hash ? { hash: f.hash.value, hashAlgorithm: f.hash.algorithm } : {}),
    })));
  }

  /** The remote registry's health changed: remote.unreachable / remote.login-refused / remote.recovered on each transition. */
  remoteHealth(troubled: readonly RemoteTrouble[]): void {
    const now = new Map(troubled.map((t) => [t.name, t.reason ?? "unreachable"]));
    const time = new Date(this.#now()).toISOString();
    const events: HookFacts[] = [];
    for (const t of troubled) {
      const reason = now.get(t.name)!;
      if (this.#troubled.get(t.name) === reason) continue;
      events.push({ event: reason === "login refused" ? "remote.login-refused" : "remote.unreachable", time, remote: t.name, error: t.lastError });
    }
    for (const name of this.#troubled.keys()) if (!now.has(name)) events.push({ event: "remote.recovered", time, remote: name });
    this.#troubled = now;
    if (events.length > 0) void this.#dispatcher.emit(...events);
  }

  #run(event: "run.started" | "run.succeeded" | "run.failed" | "job.dead", job: Job): HookFacts {
    const info = this.#jobs(job.name);
    return {
      // The steps of a distributed run report as the mirror they run.
      event, time: new Date(this.#now()).toISOString(), job: job.name, kind: job.kind === "mirror-part" || job.kind === "mirror-finish" ? "mirror" : job.kind,
      ...(info ? { remote: info.remote, direction: info.direction } : job.concurrencyKey ? { remote: remoteOfConcurrencyKey(job.concurrencyKey) } : {}),
      jobId: job.id, attempt: job.attempts,
      ...(job.kind === "upload" ? { source: job.payload.path } : {}),
    };
  }
}

/** The job lookup of a config: kind, remote and direction by job name. */
export function jobInfoLookup(config: {
  readonly uploads: readonly { readonly name: string; readonly remote: string }[];
  readonly mirrors: readonly { readonly name: string; readonly remote: string; readonly direction: "upload" | "download" }[];
}): (name: string) => HookJobInfo | undefined {
  const map = new Map<string, HookJobInfo>([
    ...config.uploads.map((j) => [j.name, { kind: "upload", remote: j.remote, direction: "upload" }] as const),
    ...config.mirrors.map((j) => [j.name, { kind: "mirror", remote: j.remote, direction: j.direction }] as const),
  ]);
  return (name) => map.get(name);
}
