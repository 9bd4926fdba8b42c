/** Backoff policy: the delay before retry n is min(capMs, baseMs * 2^n), then spread by ±jitter. */
export interface BackoffPolicy {
  /** Delay before the first retry, in ms; default 1000. */
  readonly baseMs: number;
  /** Largest delay before jitter, in ms; default 300000 (5 minutes). */
  readonly capMs: number;
  /** Fraction in [0, 1] by which the delay is spread either way; default 0.2. */
  readonly jitter: number;
}

/** Defaults: 1 s, doubling, capped at 5 min, ±20 %. */
export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 1000, capMs: 300_000, jitter: 0.2 };

/**
 * Delay in ms before retry number `retry` (0 for the first retry): min(cap, base·2^retry) ± jitter,
 * where rng() in [0, 1) picks the point in the jitter band (0 → -jitter, 0.5 → exact, →1 → +jitter).
 * Jitter spreads the retries of many jobs that failed together (a remote going down) so they do
 * not return as one burst.
 */
export function backoffDelay(retry: number, policy: BackoffPolicy, rng: () => number): number {
  if (!Number.isInteger(retry) || retry < 0) throw new RangeError(`backoff: retry must be an integer >= 0, got ${retry}`);
  assertPolicy(policy);
  // 2 ** 1100 is Infinity; Math.min handles that, so no overflow guard is needed.
  const plain = Math.min(policy.capMs, policy.baseMs * 2 ** retry);
  const r = rng();
  if (!(r >= 0 && r < 1)) throw new RangeError(`backoff: rng() must return a number in [0, 1), got ${r}`);
  return Math.max(0, Math.round(plain * (1 + policy.jitter * (2 * r - 1))));
}

/** Throws a RangeError naming the bad field of a backoff policy. */
export function assertPolicy(policy: BackoffPolicy): void {
  const { baseMs, capMs, jitter } = policy;
  if (!Number.isFinite(baseMs) || baseMs < 0) throw new RangeError(`backoff: baseMs must be a finite number >= 0, got ${baseMs}`);
  if (!Number.isFinite(capMs) || capMs < baseMs) throw new RangeError(`backoff: capMs must be finite and >= baseMs (${baseMs}), got ${capMs}`);
  if (!(jitter >= 0 && jitter <= 1)) throw new RangeError(`backoff: jitter must be in [0, 1], got ${jitter}`);
}
