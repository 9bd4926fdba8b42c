import { EventEmitter } from "node:events";
import type { Job, RunnerEventMap, TransferInput } from "../queue/index.js";
import type { ResolvedConfig } from "./config.js";
import { failureClassOf, type FailureClass } from "./failureClass.js";
import type { ActionEvent } from "./jobActions.js";

/** What a job handler reports while it moves files (all by the queue's job id). */
export interface TransferProgress {
  /** The run's plan: files and bytes to move. */
  planned(jobId: number, files: number, bytes: number): void;
  started(jobId: number, path: string, size: number): void;
  /** Bytes moved (a delta). */
  bytes(jobId: number, n: number): void;
  done(jobId: number, path: string, ok: boolean): void;
}

/** A job or transfer event of the daemon, as the event stream sends it. */
export type DaemonEvent = { readonly type: string; readonly at: string; readonly job?: string; readonly id?: number } & Readonly<Record<string, unknown>>;

/** A run in progress, as the API shows it. */
export interface RunningView {
  readonly id: number;
  readonly job: string;
  readonly kind: string;
  readonly remote: string;
  readonly direction: "upload" | "download";
  readonly startedAt: string;
  /** Bytes moved in this run so far. */
  readonly bytes: number;
  /** Bytes the run's plan moves; null before the plan is known (and for an upload job, the file's size). */
  readonly totalBytes: number | null;
  readonly filesDone: number;
  readonly filesTotal: number | null;
  /** Bytes per second over the last few seconds. */
  readonly rate: number;
  /** Seconds left at the current rate; null when unknown. */
  readonly etaSeconds: number | null;
  /** Files being moved now. */
  readonly files: readonly { path: string; size: number; startedAt: string }[];
}

/** Label set of the traffic counters. */
export interface TrafficKey {
  readonly job: string;
  readonly remote: string;
  readonly direction: "upload" | "download";
}

interface Run {
  readonly job: Job;
  readonly key: TrafficKey;
  readonly startedAt: number;
  bytes: number;
  totalBytes: number | null;
  filesDone: number;
  filesTotal: number | null;
  readonly files: Map<string, { size: number; startedAt: number }>;
  /** (time, bytes) samples of the last seconds, for the rate. */
  samples: [number, number][];
}

/** The window the rate is measured over, in ms. */
const RATE_WINDOW_MS = 5000;

/**
 * What the daemon is doing now and has done since it started: running runs with their files,
 * bytes and rate; counters for /metrics; and one stream of job and transfer events for the
 * event stream. It lives in memory only: the queue database holds everything that must last.
 */
export class Activity {
  // parameters
  readonly #jobs: ReadonlyMap<string, TrafficKey>;
  readonly #now: () => number;
  // internal state
  readonly #events = new EventEmitter();
  readonly #running = new Map<number, Run>();
  /** Counters since start, keyed by JSON of their labels. */
  readonly transferCounts = new Map<string, number>();
  readonly byteCounts = new Map<string, number>();
  readonly verifiedCounts = new Map<string, number>();
  readonly failureCounts = new Map<string, number>();
  readonly #runListeners = new Set<(job: string, outcome: string, seconds: number) => void>();

  constructor(config: Pick<ResolvedConfig, "mirrors" | "uploads">, options: { now?: () => number } = {}) {
    this.#jobs = new Map<string, TrafficKey>([
      ...config.mirrors.map((m) => [m.name, { job: m.name, remote: m.remote, direction: m.direction }] as const),
      ...config.uploads.map((u) => [u.name, { job: u.name, remote: u.remote, direction: "upload" as const }] as const),
    ]);
    this.#now = options.now ?? Date.now;
    this.#events.setMaxListeners(0); // one per open event stream
  }

  /** Subscribes to every event; returns the unsubscribe function. */
  subscribe(listener: (e: DaemonEvent) => void): () => void {
    this.#events.on("event", listener);
    return () => this.#events.off("event", listener);
  }

  /** Hears each run's end (for the duration histogram). */
  onRunEnd(listener: (job: string, outcome: string, seconds: number) => void): void {
    this.#runListeners.add(listener);
  }

  /** The runs in progress, oldest first. */
  running(): RunningView[] {
    const now = this.#now();
    return [...this.#running.entries()].map(([id, r]) => {
      const rate = rateOf(r.samples, now);
      const left = r.totalBytes === null ? null : Math.max(0, r.totalBytes - r.bytes);
      return {
        id, job: r.key.job, kind: r.job.kind, remote: r.key.remote, direction: r.key.direction, startedAt: iso(r.startedAt),
        bytes: r.bytes, totalBytes: r.totalBytes, filesDone: r.filesDone, filesTotal: r.filesTotal, rate: Math.round(rate),
        etaSeconds: left === null || rate <= 0 ? null : Math.ceil(left / rate),
        files: [...r.files].map(([path, f]) => ({ path, size: f.size, startedAt: iso(f.startedAt) })),
      };
    });
  }

  /** The progress sink handed to the job handlers. */
  readonly progress: TransferProgress = {
    planned: (jobId, files, bytes) => {
      const r = this.#running.get(jobId);
      if (r) Object.assign(r, { filesTotal: files, totalBytes: bytes });
    },
    started: (jobId, path, size) => {
      const r = this.#running.get(jobId);
      if (!r) return;
      r.files.set(path, { size, startedAt: this.#now() });
      this.#emit({ type: "transfer:started", job: r.key.job, id: jobId, path, size });
    },
    bytes: (jobId, n) => {
      const r = this.#running.get(jobId);
      if (!r) return;
      r.bytes += n;
      bump(this.byteCounts, r.key, n);
      const now = this.#now();
      const last = r.samples.at(-1);
      if (!last || now - last[0] >= 250) r.samples.push([now, r.bytes]);
      else last[1] = r.bytes;
      while (r.samples.length > 2 && now - r.samples[0]![0] > RATE_WINDOW_MS) r.samples.shift();
    },
    done: (jobId, path, ok) => {
      const r = this.#running.get(jobId);
      if (!r) return;
      const f = r.files.get(path);
      r.files.delete(path);
      if (ok) r.filesDone++;
      bump(this.transferCounts, { ...r.key, result: ok ? "ok" : "failed" }, 1);
      this.#emit({ type: "transfer:done", job: r.key.job, id: jobId, path, ok, size: f?.size ?? null });
    },
  };

  /** Records what the queue's worker runner says about a run. */
  runnerEvent<E extends keyof RunnerEventMap>(event: E, payload: RunnerEventMap[E]): void {
    const p = payload as Partial<RunnerEventMap["job:failed"] & RunnerEventMap["job:succeeded"] & RunnerEventMap["job:deferred"]>;
    const job = p.job;
    if (!job) return;
    const base = { job: job.name, id: job.id, kind: job.kind };
    switch (event) {
      case "job:leased": {
        const key = this.#jobs.get(job.name) ?? { job: job.name, remote: "", direction: "upload" as const };
        const size = job.kind === "upload" ? job.payload.size : null;
        this.#running.set(job.id, { job, key, startedAt: this.#now(), bytes: 0, totalBytes: size, filesDone: 0, filesTotal: size === null ? null : 1, files: new Map(), samples: [] });
        this.#emit({ type: "job:started", ...base, attempt: job.attempts, ...(job.kind === "upload" ? { path: job.payload.path } : {}) });
        return;
      }
      case "job:succeeded":
        this.#ended(job.id, "succeeded");
        this.#emit({ type: "job:succeeded", ...base, durationMs: p.durationMs, bytes: p.bytes });
        return;
      case "job:failed":
      case "job:dead": {
        const reason = failureClassOf(p.error);
        bump(this.failureCounts, { job: job.name, reason }, 1);
        this.#ended(job.id, event === "job:dead" ? "dead" : "failed");
        this.#emit({ type: event, ...base, reason, error: String((p.error as Error | undefined)?.message ?? p.error), ...(p.runAfter ? { runAfter: iso(p.runAfter) } : {}) });
        return;
      }
      case "job:deferred":
        this.#ended(job.id, "deferred");
        this.#emit({ type: "job:deferred", ...base, reason: p.reason, runAfter: p.runAfter ? iso(p.runAfter) : null });
        return;
      case "lease:expired":
        this.#emit({ type: "lease:expired", ...base });
        return;
      default:
        return;
    }
  }

  /** Counts the verified transfers a successful run recorded, by how each was verified. */
  recordTransfers(transfers: readonly TransferInput[]): void {
    for (const t of transfers) bump(this.verifiedCounts, { kind: verificationKind(t.verified) }, 1);
  }

  /** Passes an operator action on to the event stream. */
  action(event: ActionEvent): void {
    this.#emit({ ...event });
  }

  #ended(id: number, outcome: string): void {
    const r = this.#running.get(id);
    if (!r) return;
    this.#running.delete(id);
    const seconds = (this.#now() - r.startedAt) / 1000;
    for (const l of this.#runListeners) l(r.key.job, outcome, seconds);
  }

  #emit(event: Omit<DaemonEvent, "at">): void {
    const e = { ...event, at: iso(this.#now()) } as DaemonEvent;
    // A listener that throws (a closed stream) must not break a worker.
    for (const l of this.#events.listeners("event") as ((e: DaemonEvent) => void)[]) {
      try {
        l(e);
      } catch {
        // the stream's own close handler removes it
      }
    }
  }
}

/** A verification label as a metric value: "sha-256", "md5", "size" … in lower case without spaces. */
export function verificationKind(verified: string): string {
  return verified.toLowerCase().replace(/\s+only$/, "").replace(/[^a-z0-9+-]+/g, "_");
}

/** Failure classes, re-exported for the metrics' documentation. */
export type { FailureClass };

function bump(map: Map<string, number>, labels: object, n: number): void {
  const key = JSON.stringify(labels);
  map.set(key, (map.get(key) ?? 0) + n);
}

function rateOf(samples: readonly [number, number][], now: number): number {
  if (samples.length < 2) return 0;
  const [t0, b0] = samples[0]!;
  const [t1, b1] = samples.at(-1)!;
  if (now - t1 > RATE_WINDOW_MS) return 0; // stalled
  const dt = (Math.max(now, t1) - t0) / 1000;
  return dt > 0 ? (b1 - b0) / dt : 0;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
