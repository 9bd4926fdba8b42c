import { causeChain } from "../protocol/index.js";
import { setTimeout as sleep } from "node:timers/promises";

/** How often and how patiently a failed step is retried. */
export interface RetryPolicy {
  /** Attempts in all, the first included; default 5. */
  attempts: number;
  /** Delay before the first retry, in ms; default 250. */
  baseMs: number;
  /** Longest delay, in ms; default 10 000. */
  capMs: number;
  /**
   * Patience with a server that cannot be reached (refused, unreachable, no DNS answer; C4):
   * while it lasts, such failures cost no attempt. One object shared by every transfer of a
   * run, so a server that stays down costs the run `patienceMs` once, not once per file.
   */
  outage?: OutageClock;
}

/** How long a run waits for an unreachable server to come back; `downSince` is its state. */
export interface OutageClock {
  readonly patienceMs: number;
  /** When the current outage began (RetryOptions.now, default performance.now); cleared by any success. */
  downSince?: number;
}

const UNREACHABLE_CODES = new Set(["ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EAI_AGAIN"]);

/** Whether an error (or one of its causes) says the server could not be reached at all. */
export function isUnreachable(err: unknown): boolean {
  for (const e of causeChain(err)) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && UNREACHABLE_CODES.has(code)) return true;
  }
  return false;
}

/** The default policy: 5 attempts, 250 ms doubling up to 10 s. */
export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseMs: 250, capMs: 10_000 };

/**
 * Delay before retry number `retry` (1 = the first retry): min(cap, base · 2^(retry-1)),
 * then jittered to between half and the whole of it, so parallel transfers that failed
 * together (a server restart) do not all come back at the same instant.
 */
export function backoffDelay(retry: number, policy: RetryPolicy = DEFAULT_RETRY, random: () => number = Math.random): number {
  const exp = Math.min(policy.capMs, policy.baseMs * 2 ** Math.max(0, retry - 1));
  return Math.round(exp / 2 + (exp / 2) * random());
}

/** Options of withRetry. */
export interface RetryOptions {
  policy?: RetryPolicy;
  /** Whether an error is worth another attempt (the client's isRetriable). */
  isRetriable: (err: unknown) => boolean;
  /** Called before each wait, e.g. to log. */
  onRetry?: (err: unknown, retry: number, delayMs: number) => void;
  sleep?: (ms: number) => Promise<unknown>;
  random?: () => number;
  /** Monotonic clock of the outage patience, in ms; default performance.now. */
  now?: () => number;
  signal?: AbortSignal;
}

/**
 * Run `fn` until it succeeds, the error is not retriable, or the attempts run out; the last
 * error is thrown. `fn` gets the attempt number (1-based), so it can resume where the last
 * attempt stopped.
 */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const policy = options.policy ?? DEFAULT_RETRY;
  const wait = options.sleep ?? ((ms: number) => sleep(ms, undefined, options.signal ? { signal: options.signal } : {}));
  const outage = policy.outage;
  const now = options.now ?? (() => performance.now());
  let failures = 0; // attempts used: failures while the server is unreachable are free for a while
  for (let attempt = 1; ; attempt++) {
    try {
      const result = await fn(attempt);
      if (outage) outage.downSince = undefined;
      return result;
    } catch (err) {
      const down = outage !== undefined && isUnreachable(err);
      if (down) outage.downSince ??= now();
      const patient = down && now() - outage.downSince! < outage.patienceMs;
      if (!patient) failures++;
      if (failures >= policy.attempts || !options.isRetriable(err) || options.signal?.aborted) throw err;
      const delay = backoffDelay(attempt, policy, options.random);
      options.onRetry?.(err, attempt, delay);
      await wait(delay);
    }
  }
}
