import { parseLimit } from "../../protocol/index.js";
import type { ListingLimits } from "../../sync/remote.js";
import type { SkippedEntry } from "../../sync/tree.js";

export type { ListingLimits };

/** The listing caps of `ferry mirror` from its flags (FAULTS B8); unset flags keep the defaults. */
export function listingLimitsOf(flags: { maxEntries?: string; maxDirEntries?: string; maxDepth?: string }): ListingLimits {
  return {
    ...(flags.maxEntries !== undefined ? { maxEntries: parseLimit(flags.maxEntries, "--max-entries") } : {}),
    ...(flags.maxDirEntries !== undefined ? { maxDirEntries: parseLimit(flags.maxDirEntries, "--max-dir-entries") } : {}),
    ...(flags.maxDepth !== undefined ? { maxDepth: parseLimit(flags.maxDepth, "--max-depth") } : {}),
  };
}

/** How many skipped entries were names or lines refused as unsafe (the "N entries rejected" of a summary). */
export function rejectedCount(skipped: readonly { path: string; reason: string }[]): number {
  // The outcome types skipped entries as {path, reason}; the scan's SkippedEntry adds the flag.
  return skipped.filter((s) => (s as SkippedEntry).rejected === true).length;
}
