import { Transform } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";

/** Options of TokenBucket; the clock is injectable so tests need no real waiting. */
export interface TokenBucketOptions {
  /** Most bytes that may pass at once after an idle spell; default one second's worth, at least 16 KiB. */
  burst?: number;
  /** Milliseconds now; default performance.now. */
  now?: () => number;
  /** Wait this many ms; default timers/promises setTimeout. */
  sleep?: (ms: number) => Promise<unknown>;
}

/**
 * A token bucket shared by every parallel transfer of a run (--bwlimit): tokens are bytes,
 * refilled at `rate` per second up to `burst`. Takers are served in order, so one large
 * transfer cannot starve the others.
 */
export class TokenBucket {
  // parameters
  readonly rate: number;
  readonly burst: number;
  readonly #now: () => number;
  readonly #sleep: (ms: number) => Promise<unknown>;
  // internal state
  #tokens: number;
  #last: number;
  #queue: Promise<void> = Promise.resolve();

  constructor(rate: number, options: TokenBucketOptions = {}) {
    if (!(rate > 0) || !Number.isFinite(rate)) throw new RangeError(`bandwidth limit must be a positive number of bytes per second, got ${rate}`);
    this.rate = rate;
    this.burst = options.burst ?? Math.max(16 * 1024, Math.floor(rate));
    this.#now = options.now ?? (() => performance.now());
    this.#sleep = options.sleep ?? ((ms) => sleep(ms));
    this.#tokens = this.burst;
    this.#last = this.#now();
  }

  /** Wait until `bytes` may pass. */
  take(bytes: number): Promise<void> {
    const turn = this.#queue.then(() => this.#take(bytes));
    this.#queue = turn.catch(() => {});
    return turn;
  }

  async #take(bytes: number): Promise<void> {
    let remaining = bytes;
    while (remaining > 0) {
      const now = this.#now();
      this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#last) * this.rate) / 1000);
      this.#last = now;
      const chunk = Math.min(remaining, this.burst);
      if (this.#tokens >= chunk) {
        this.#tokens -= chunk;
        remaining -= chunk;
      } else {
        await this.#sleep(Math.ceil(((chunk - this.#tokens) * 1000) / this.rate));
      }
    }
  }
}

/** A pass-through stream that holds each chunk until the bucket lets it through. */
export function throttle(bucket: TokenBucket): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      bucket.take(chunk.length).then(() => done(null, chunk), done);
    },
  });
}

/**
 * Parse a rate such as "2M", "512k", "1.5MiB/s", "100000" into bytes per second (K, M, G are
 * powers of 1024, as rclone and curl read them). "0" and "off" mean no limit (undefined).
 */
export function parseRate(text: string): number | undefined {
  const t = text.trim();
  if (t === "0" || t.toLowerCase() === "off") return undefined;
  const m = /^(\d+(?:\.\d+)?)\s*([kmg])?(?:i?b)?(?:\/s)?$/i.exec(t);
  if (!m) throw new Error(`bad bandwidth limit ${JSON.stringify(text)}: use bytes per second with an optional K, M or G suffix, e.g. 2M`);
  const mult = { k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[(m[2] ?? "").toLowerCase() as "k" | "m" | "g"] ?? 1;
  const rate = Math.floor(Number(m[1]) * mult);
  if (rate <= 0) throw new Error(`bad bandwidth limit ${JSON.stringify(text)}: must be at least 1 byte per second`);
  return rate;
}
