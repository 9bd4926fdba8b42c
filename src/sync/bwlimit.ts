import { Transform } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import type { BandwidthSchedule } from "./bwschedule.js";

/** Options of TokenBucket; the clocks are injectable so tests need no real waiting. */
export interface TokenBucketOptions {
  /** Monotonic milliseconds, for pacing; default performance.now. */
  now?: () => number;
  /** Wall-clock milliseconds since the epoch, for a timetable's time of day; default Date.now. */
  wallClock?: () => number;
  /** Wait this many ms; default timers/promises setTimeout. */
  sleep?: (ms: number) => Promise<unknown>;
  /**
   * Limits this one also obeys (the daemon's global limit under a remote's): a take waits for
   * each of them at once, so a transfer gets the tighter of the rates.
   */
  within?: readonly TokenBucket[];
}

/**
 * A sleep is cut into pieces no longer than this, so a timetable's new rate (or a wall clock
 * that moved) is seen within a second even when its boundary was computed wrong across DST.
 */
const MAX_SLEEP_MS = 1000;

/**
 * A take that comes at most this long after the previous bytes' slots ended continues their
 * timeline instead of starting a new one: timers wake a millisecond or two late, and losing
 * that per chunk would keep a steady transfer well under its limit. Bytes still never pass
 * ahead of the timeline, so no burst beyond this much of the rate is possible.
 */
const CONTINUE_MS = 100;

/**
 * A bandwidth limit shared by every parallel transfer under it (--bwlimit, a daemon remote's or
 * the daemon's `bwlimit`). Each byte is given a slot in time at the current rate and released
 * only when its slot has passed, and an idle spell saves nothing up: no burst, so the first
 * second of a transfer (or of one after an idle spell) moves at most one second's allowance.
 * The rate follows a timetable when given one; a change takes effect for transfers already
 * running. Takers are served in order, so one large transfer cannot starve the others.
 */
export class TokenBucket {
  // parameters
  readonly schedule: BandwidthSchedule;
  readonly #now: () => number;
  readonly #wallClock: () => number;
  readonly #sleep: (ms: number) => Promise<unknown>;
  readonly #within: readonly TokenBucket[];
  // internal state
  /** Monotonic time at which the bytes given out so far have all been paid for. */
  #paidUntil = -Infinity;
  #queue: Promise<void> = Promise.resolve();

  /** `limit`: bytes per second, or a timetable (parseBandwidth). */
  constructor(limit: number | BandwidthSchedule, options: TokenBucketOptions = {}) {
    if (typeof limit === "number") {
      if (!(limit > 0) || !Number.isFinite(limit)) throw new RangeError(`bandwidth limit must be a positive number of bytes per second, got ${limit}`);
      this.schedule = { text: String(limit), rateAt: () => limit, nextChange: () => undefined };
    } else this.schedule = limit;
    this.#now = options.now ?? (() => performance.now());
    this.#wallClock = options.wallClock ?? (() => Date.now());
    this.#sleep = options.sleep ?? ((ms) => sleep(ms));
    this.#within = options.within ?? [];
  }

  /** Wait until `bytes` may pass under this limit and every limit it is within. */
  take(bytes: number): Promise<void> {
    const own = this.#takeInTurn(bytes);
    return this.#within.length === 0 ? own : Promise.all([own, ...this.#within.map((b) => b.take(bytes))]).then(() => undefined);
  }

  #takeInTurn(bytes: number): Promise<void> {
    const turn = this.#queue.then(() => this.#take(bytes));
    this.#queue = turn.catch(() => {});
    return turn;
  }

  async #take(bytes: number): Promise<void> {
    let remaining = bytes;
    while (remaining > 1e-9) {
      const wall = this.#wallClock();
      const rate = this.schedule.rateAt(wall);
      const now = this.#now();
      if (rate === undefined) {
        this.#paidUntil = now; // off: nothing held back, and nothing saved for later
        return;
      }
      const change = this.schedule.nextChange(wall);
      const horizon = now + Math.min(MAX_SLEEP_MS, change === undefined ? Infinity : Math.max(1, change - wall));
      const start = this.#paidUntil >= now - CONTINUE_MS ? this.#paidUntil : now;
      const end = start + (remaining * 1000) / rate;
      if (end <= horizon) {
        this.#paidUntil = end;
        remaining = 0;
      } else if (start < horizon) {
        // Pay what fits before the horizon at this rate; the rest is paid at the rate then.
        remaining -= ((horizon - start) * rate) / 1000;
        this.#paidUntil = horizon;
      }
      const wait = Math.min(this.#paidUntil, horizon) - now;
      if (wait > 0) await this.#sleep(Math.ceil(wait));
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
