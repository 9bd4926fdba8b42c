import type { Logger } from "../log/index.js";
import { parseBandwidth, TokenBucket, type TokenBucketOptions } from "../sync/index.js";

/** The daemon's bandwidth limits as configured: the global `bwlimit` and each remote's. */
export interface BandwidthConfig {
  /** Shared by every transfer of the daemon. */
  readonly global?: string;
  /** By remote name. */
  readonly remotes: Readonly<Record<string, string>>;
}

/**
 * The limiters of a running daemon: one for the whole daemon and one per limited remote, set
 * inside the global one, so every transfer obeys the tighter of its remote's limit and the
 * global limit, and all transfers together stay within the global one. Built once at start:
 * the limits are shared by all jobs for as long as the daemon runs.
 */
export class BandwidthLimits {
  readonly #global: TokenBucket | undefined;
  readonly #remotes = new Map<string, TokenBucket>();

  constructor(config: BandwidthConfig, options: Omit<TokenBucketOptions, "within"> & { logger?: Logger } = {}) {
    const { logger, ...clocks } = options;
    const global = config.global !== undefined ? parseBandwidth(config.global) : undefined;
    this.#global = global ? new TokenBucket(global, clocks) : undefined;
    const within = this.#global ? [this.#global] : [];
    for (const [name, text] of Object.entries(config.remotes)) {
      const schedule = parseBandwidth(text);
      if (schedule) this.#remotes.set(name, new TokenBucket(schedule, { ...clocks, within }));
    }
    if (this.#global || this.#remotes.size > 0) {
      logger?.info({ global: config.global, remotes: config.remotes }, "bandwidth limits in force");
    }
  }

  /** The limiter a transfer with `remote` takes its bytes from; undefined when nothing limits it. */
  for(remote: string): TokenBucket | undefined {
    return this.#remotes.get(remote) ?? this.#global;
  }
}
