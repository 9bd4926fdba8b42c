import { causeChain } from "../protocol/index.js";
import { access, statfs } from "node:fs/promises";
import { constants } from "node:fs";
import { dirname } from "node:path";
import type { Logger } from "../log/index.js";
import { backoffDelay, type BackoffPolicy } from "../queue/index.js";
import { describeLocalCondition, LocalFileError, toLocalFileError, type LocalCondition } from "../sync/localErrors.js";

/** A job waiting because its local side cannot be written, as `ferry status` shows it. */
export interface LocalTrouble {
  /** The config job name. */
  readonly job: string;
  readonly condition: LocalCondition;
  /** "local disk full", "local destination read-only", … */
  readonly summary: string;
  readonly path: string;
  /** The full message, with the fix. */
  readonly message: string;
  /** Deferrals in a row since the condition was first seen. */
  readonly failures: number;
  readonly since: number;
  readonly retryAt: number;
}

/** Errno codes of a local disk condition that retrying soon cannot heal. */
const LOCAL_CODES = new Set(["ENOSPC", "EDQUOT", "EROFS", "EACCES", "EPERM"]);

/** The error code of a Node system error, or undefined. */
function codeOf(e: unknown): string | undefined {
  const c = (e as { code?: unknown } | null)?.code;
  return typeof c === "string" ? c : undefined;
}

/**
 * The local disk condition behind a job error, or undefined: a LocalFileError anywhere in the
 * cause chain (the sync engine puts the one that stopped a mirror run there: ExecuteResult
 * stoppedBy), or a raw ENOSPC/EDQUOT/EROFS/EACCES/EPERM (translated, naming `path` when the
 * error has none). Message text is never read: a server's "452 … (ENOSPC)" is the remote disk.
 */
export function localFailureOf(err: unknown, path: string): LocalFileError | undefined {
  for (const e of causeChain(err)) {
    if (e instanceof LocalFileError) return e;
    const code = codeOf(e);
    if (code && LOCAL_CODES.has(code)) {
      const t = toLocalFileError(e, path);
      if (t instanceof LocalFileError) return t;
    }
  }
  return undefined;
}

/** The nearest existing folder at or above `path` (a destination not created yet counts by its parent). */
async function existingDir(path: string): Promise<string> {
  for (let p = path; ; p = dirname(p)) {
    const ok = await access(p).then(() => true, () => false);
    if (ok || dirname(p) === p) return p;
  }
}

/** Bytes free for an unprivileged writer on the filesystem of `path`, or undefined when statfs fails. */
export async function freeBytes(path: string): Promise<number | undefined> {
  try {
    const s = await statfs(await existingDir(path));
    return s.bavail * s.bsize;
  } catch {
    return undefined;
  }
}

/**
 * Look at a local destination directly, for when a job failed without a typed error (e.g. the
 * sync engine reported per-file failures as text): a read-only or unwritable folder, or a
 * filesystem with no room left (less than `minFree` bytes), is a LocalFileError.
 */
export async function probeLocalDestination(path: string, minFree = 64 * 1024): Promise<LocalFileError | undefined> {
  const dir = await existingDir(path);
  try {
    await access(dir, constants.W_OK);
  } catch (err) {
    const t = toLocalFileError(err, dir);
    if (t instanceof LocalFileError) return t;
  }
  const free = await freeBytes(dir);
  if (free !== undefined && free < minFree) {
    const t = toLocalFileError(Object.assign(new Error(`no space left on device, ${free} bytes free`), { code: "ENOSPC", path: dir }), dir);
    if (t instanceof LocalFileError) return t;
  }
  return undefined;
}

/** Options of LocalConditions. */
export interface LocalConditionsOptions {
  /** Delays while a job's local side stays unwritable: minutes, doubling, capped. */
  readonly backoff: BackoffPolicy;
  readonly logger: Logger;
  /**
   * How often a disk-full destination is checked for space (statfs), in ms; 0 disables. When
   * its free space grew, the waiting jobs are woken at once instead of at the end of their
   * backoff (rclone and Syncthing poll free space the same way).
   */
  readonly spaceCheckMs: number;
  /** Wake the queued jobs of these config job names now. */
  readonly wake: (jobs: readonly string[]) => void;
  /** Called on every change, with every job in trouble. */
  readonly onChange?: (troubled: readonly LocalTrouble[]) => void;
  /** Default Date.now; Math.random. */
  readonly now?: () => number;
  readonly rng?: () => number;
}

interface Entry {
  condition: LocalCondition;
  path: string;
  message: string;
  failures: number;
  since: number;
  retryAt: number;
  /** Free bytes when the job last failed for lack of space. */
  freeAtFailure: number | undefined;
}

/**
 * Local disk conditions per job (D4, D6, I15): a job whose local side is full, read-only or
 * unwritable waits with a long, growing backoff, without using attempts, so an hour of full
 * disk never sends it `dead`. A success clears it. While a disk is full, its free space is
 * checked every spaceCheckMs and the job woken as soon as room returns.
 */
export class LocalConditions {
  // parameters
  readonly #o: LocalConditionsOptions;
  readonly #now: () => number;
  readonly #rng: () => number;
  // internal state
  readonly #jobs = new Map<string, Entry>();
  #timer: NodeJS.Timeout | undefined;
  #checking = false;

  constructor(options: LocalConditionsOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#rng = options.rng ?? Math.random;
  }

  /** Records a failure of `job` for a local condition; returns how long the job should wait, in ms. */
  async record(job: string, err: LocalFileError): Promise<number> {
    const now = this.#now();
    const e = this.#jobs.get(job) ?? { condition: err.condition, path: err.path, message: err.message, failures: 0, since: now, retryAt: now, freeAtFailure: undefined };
    // Runs of one job failing together (an outbox's files) count once: the wait grows per window, not per file.
    if (e.retryAt > now && e.condition === err.condition) return e.retryAt - now;
    const delay = backoffDelay(Math.min(e.failures, 30), this.#o.backoff, this.#rng);
    e.failures++;
    e.condition = err.condition;
    e.path = err.path;
    e.message = err.message;
    e.retryAt = now + delay;
    e.freeAtFailure = err.condition === "disk-full" ? await freeBytes(err.path) : undefined;
    this.#jobs.set(job, e);
    // Loud: a person has to act (free space, remount), and status says the same.
    this.#o.logger.error({ event: "local.trouble", job, condition: e.condition, path: e.path, failures: e.failures, retryInMs: delay, err: err.message },
      `${describeLocalCondition(e.condition)}: ${e.path}; job ${job} waits ${Math.ceil(delay / 1000)} s (no attempt used)`);
    this.#notify();
    this.#arm();
    return delay;
  }

  /** The job succeeded: its local side is fine again. */
  clear(job: string): void {
    const e = this.#jobs.get(job);
    if (!e) return;
    this.#jobs.delete(job);
    this.#o.logger.info({ event: "local.recovered", job, condition: e.condition, path: e.path, downMs: this.#now() - e.since }, `${describeLocalCondition(e.condition)} cleared for job ${job}`);
    this.#notify();
  }

  /** Every job in trouble. */
  troubled(): LocalTrouble[] {
    return [...this.#jobs].map(([job, e]) => ({
      job, condition: e.condition, summary: describeLocalCondition(e.condition), path: e.path, message: e.message,
      failures: e.failures, since: e.since, retryAt: e.retryAt,
    }));
  }

  /** Stops the space checks. */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Runs one space check now (the timer calls it; tests may too). Returns the jobs woken. */
  async checkSpace(): Promise<string[]> {
    if (this.#checking) return [];
    this.#checking = true;
    try {
      const woken: string[] = [];
      for (const [job, e] of this.#jobs) {
        if (e.condition !== "disk-full" || e.retryAt <= this.#now()) continue;
        const free = await freeBytes(e.path);
        if (free === undefined) continue;
        // Room came back: more than at the failure, by a margin (256 KiB) that a log line or
        // two written meanwhile does not reach.
        if (free >= (e.freeAtFailure ?? 0) + 256 * 1024) {
          e.retryAt = this.#now();
          woken.push(job);
          this.#o.logger.info({ event: "local.space", job, path: e.path, freeBytes: free }, `space returned on ${e.path}; job ${job} tried again now`);
        }
      }
      if (woken.length > 0) {
        this.#notify();
        this.#o.wake(woken);
      }
      return woken;
    } catch (err) {
      this.#o.logger.warn({ err }, "local space check failed");
      return [];
    } finally {
      this.#checking = false;
    }
  }

  #arm(): void {
    if (this.#timer || this.#o.spaceCheckMs <= 0) return;
    this.#timer = setInterval(() => {
      if (![...this.#jobs.values()].some((e) => e.condition === "disk-full")) return this.stop();
      void this.checkSpace();
    }, this.#o.spaceCheckMs);
    this.#timer.unref();
  }

  #notify(): void {
    try {
      this.#o.onChange?.(this.troubled());
    } catch (err) {
      this.#o.logger.error({ err }, "local condition listener failed");
    }
  }
}
