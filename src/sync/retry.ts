import { setTimeout as sleep } from "node:timers/promises";
import { isUnreachable } from "../client/index.js";

/** Whether the server could not be reached at all (the client's isUnreachable; re-exported for the outage patience's users). */
export { isUnreachable };

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

/** The default policy: 5 attempts, 250 ms doubling up to 10 s. */
export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseMs: 250, capMs: 10_000 };

/**
 * Delay before retry number `retry` (1 = the first retry) of a step within a run (the queue's
 * backoffDelay spaces job attempts): min(cap, base · 2^(retry-1)),
 * then jittered to between half and the whole of it, so parallel transfers that failed
 * together (a server restart) do not all come back at the same instant.
 */
export function retryDelay(retry: number, policy: RetryPolicy = DEFAULT_RETRY, random: () => number = Math.random): number {
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
  /** Checked before each retry: true (the run has stopped) ends the retries with the last error. */
  shouldStop?: () => boolean;
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
      if (failures >= policy.attempts || !options.isRetriable(err) || options.signal?.aborted || options.shouldStop?.()) throw err;
      const delay = retryDelay(attempt, policy, options.random);
      options.onRetry?.(err, attempt, delay);
      await wait(delay);
    }
  }
}
