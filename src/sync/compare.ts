import type { Entry } from "./tree.js";
import type { StateRecord } from "./state.js";

/** Options of compare. */
export interface CompareOptions {
  /** Decide by checksum when both sides have one (--checksum); default false. */
  checksum?: boolean;
  /** Largest mtime difference still counted as equal, in ms; default 1000 (servers keep whole seconds). */
  modifyWindowMs?: number;
  /** What the last sync recorded for this path, if anything. */
  state?: StateRecord;
}

/** The answer of compare: whether a transfer is needed, and why (it goes into the result). */
export interface Comparison {
  same: boolean;
  reason: string;
}

/** Default modify window: MFMT/MDTM carry whole seconds on most servers. */
export const DEFAULT_MODIFY_WINDOW_MS = 1000;

/**
 * Does `dst` already hold what `src` has? The ladder, first rule that applies wins:
 * 1. sizes differ → transfer.
 * 2. with `checksum`, both hashes known in the same algorithm → same iff they are equal.
 * 3. both mtimes precise (local, MLSD/MDTM) and within the modify window → same.
 * 4. the sync state recorded this path with the source's current size and stamp → same
 *    (covers LIST-only servers, whose coarse local-time dates are never trusted, and servers
 *    that cannot set a file's mtime).
 * 5. otherwise → transfer, saying whether the mtimes differ or none could be trusted.
 */
export function compare(src: Entry, dst: Entry, options: CompareOptions = {}): Comparison {
  const window = options.modifyWindowMs ?? DEFAULT_MODIFY_WINDOW_MS;
  if (src.size !== dst.size) return { same: false, reason: `size differs (${src.size} vs ${dst.size})` };
  if (options.checksum && src.hash && dst.hash && src.hash.algorithm === dst.hash.algorithm) {
    return src.hash.value.toLowerCase() === dst.hash.value.toLowerCase()
      ? { same: true, reason: `same size and ${src.hash.algorithm}` }
      : { same: false, reason: `${src.hash.algorithm} differs` };
  }
  const precise = src.mtimePrecise && dst.mtimePrecise && src.mtime !== undefined && dst.mtime !== undefined;
  const delta = precise ? Math.abs(src.mtime!.getTime() - dst.mtime!.getTime()) : Infinity;
  if (delta <= window) return { same: true, reason: "same size and modification time" };
  const st = options.state;
  if (st && st.size === src.size && src.stamp !== undefined && st.srcStamp === src.stamp &&
      (st.hash === undefined || !src.hash || st.hash.value === src.hash.value)) {
    return { same: true, reason: "unchanged since the last sync (sync state)" };
  }
  if (precise) return { same: false, reason: `modification time differs by ${formatDelta(delta)}` };
  return { same: false, reason: "no trustworthy modification time and no sync state" };
}

function formatDelta(ms: number): string {
  return ms < 60_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 60_000)} min`;
}
