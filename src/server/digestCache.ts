import { createHash, type Hash } from "node:crypto";
import type { BigIntStats } from "node:fs";
import { NODE_HASH_NAMES, type HashAlgorithm } from "../protocol/index.js";
import type { DirHandle } from "./confined.js";
import { crc32 } from "./crc32.js";
import { hasFineTimestamps } from "./timestampProbe.js";

/**
 * What identifies one state of a file's bytes: the file (device, inode) and everything the
 * kernel changes when its bytes change (size, mtime, ctime in nanoseconds). ctime cannot be
 * set by anyone: a write, truncate, utimes, chmod or rename of the file moves it. On kernels
 * with multigrain timestamps (Linux 6.13 and later on ext4, xfs, btrfs, tmpfs) a change made
 * after a stat has read the ctime always gets a later ctime; on a filesystem with coarse
 * timestamps two changes within one clock tick may share one (see DigestCache.canKeep).
 */
export function fileState(st: BigIntStats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
}

/** A digest being computed over bytes as they pass (an upload received, a download sent). */
export interface RunningDigest {
  update(chunk: Buffer): void;
  /** Lowercase hex, as HASH replies carry it. */
  hex(): string;
}

/** A running digest of `algorithm` (CRC32 is ours, the others node:crypto's). */
export function runningDigest(algorithm: HashAlgorithm): RunningDigest {
  if (algorithm === "CRC32") {
    let crc = 0;
    return { update: (chunk) => void (crc = crc32(chunk, crc)), hex: () => crc.toString(16).padStart(8, "0") };
  }
  const h: Hash = createHash(NODE_HASH_NAMES[algorithm]);
  return { update: (chunk) => void h.update(chunk), hex: () => h.digest("hex") };
}

/** Entries kept; the oldest is dropped first. Each is ~200 bytes. */
const MAX_ENTRIES = 4096;
/** Well beyond the coarsest timestamp tick (10 ms at HZ=100) and small clock slews. */
const RACY_MS = 2000;

/**
 * Digests the server already knows of files on its disk, so a HASH right after a STOR (or a
 * RETR) answers without reading the file again. An entry is the digest of the bytes the
 * server itself wrote (or read) and the file's state (fileState) taken afterwards; HASH
 * takes the file's state again and uses the entry only when it is identical, so any later
 * change of the file by anyone (another session, a local process) makes HASH read the file.
 *
 * Entries are kept only where a later change cannot keep the same state (canKeep). Keyed by
 * state, not path: a rename by the server keeps the inode but moves the ctime, so the entry
 * simply stops matching.
 */
export class DigestCache {
  readonly #entries = new Map<string, Map<HashAlgorithm, string>>();
  readonly #max: number;
  /** Per device: whether its timestamps are fine-grained (timestampProbe.ts), once probed. */
  readonly #fine = new Map<bigint, Promise<boolean>>();
  readonly #fineKnown = new Map<bigint, boolean>();

  constructor(max = MAX_ENTRIES) {
    this.#max = max;
  }

  /** Remember that the file in `state` holds bytes whose `algorithm` digest is `hex`. */
  remember(state: string, algorithm: HashAlgorithm, hex: string): void {
    let digests = this.#entries.get(state);
    if (digests) this.#entries.delete(state); // re-inserted as the newest
    else digests = new Map();
    digests.set(algorithm, hex);
    this.#entries.set(state, digests);
    if (this.#entries.size > this.#max) this.#entries.delete(this.#entries.keys().next().value!);
  }

  /** The digest of the file in `state`, if the server knows it. */
  lookup(state: string, algorithm: HashAlgorithm): string | undefined {
    return this.#entries.get(state)?.get(algorithm);
  }

  /**
   * Whether a state `st` read at `statAt` (ms since the epoch) is sure to change with the
   * file's bytes: always on a device with fine timestamps, else only when the file's ctime
   * was already older than a timestamp tick at the stat (a "racily clean" entry, in git's
   * words, could hide a change made within the same tick).
   */
  canKeep(st: BigIntStats, statAt: number): boolean {
    return this.#fineKnown.get(st.dev) === true || Number(st.ctimeNs / 1_000_000n) < statAt - RACY_MS;
  }

  /** Probe `dev`'s timestamps (once per device) in the writable folder `dir` on it. */
  async learn(dev: bigint, dir: DirHandle): Promise<void> {
    let probe = this.#fine.get(dev);
    if (!probe) {
      probe = hasFineTimestamps(dir);
      this.#fine.set(dev, probe);
      this.#fineKnown.set(dev, await probe);
    }
    await probe;
  }

  /** Whether `dev` has been probed. */
  knows(dev: bigint): boolean {
    return this.#fineKnown.has(dev);
  }

  get size(): number {
    return this.#entries.size;
  }
}
