import { ProtocolError } from "../errors.js";

// Caps on what a server's listings may cost (FAULTS I10, B8): a hostile or broken server can
// send an endless listing, millions of entries, or a folder inside every folder. Each cap is
// an error that names the setting raising it, never a silent truncation: a mirror working on
// a partial tree could delete what it did not see.

/** Which listing cap was hit. */
export type ListingLimit = "dirEntries" | "entries" | "depth" | "bytes" | "lineBytes" | "controlBytes";

/** Default caps; a user with a genuinely larger tree raises them with the named settings. */
export const LISTING_DEFAULTS = {
  /** Entries (and refused lines) of one folder's listing. */
  maxDirEntries: 200_000,
  /** Entries of a whole remote scan (mirror). */
  maxEntries: 2_000_000,
  /** Folder depth below the root of a remote scan. */
  maxDepth: 100,
  /** Bytes of one listing. */
  maxListingBytes: 256 * 1024 * 1024,
  /** Bytes of one listing line; a longer line is refused (skipped), not the listing. */
  maxLineBytes: 16 * 1024,
  /**
   * Bytes of one listing sent over the control connection (STAT): the client holds a reply
   * whole until its end line, so it is cut well before the control channel's own cap on
   * pending reply text; ferry's server refuses a longer one (552) before sending any of it.
   */
  maxControlListingBytes: 60 * 1024,
} as const;

/** Where each cap is raised, for the error message. */
const HOW_TO_RAISE: Readonly<Record<ListingLimit, string>> = {
  dirEntries: "raise the cap with --max-dir-entries N (ferry ls, ferry mirror) or maxDirEntries in a daemon mirror job",
  entries: "raise the cap with --max-entries N (ferry mirror) or maxEntries in a daemon mirror job",
  depth: "raise the cap with --max-depth N (ferry mirror) or maxDepth in a daemon mirror job",
  bytes: "the server sent an endless or huge listing; list a smaller folder",
  lineBytes: "",
  controlBytes: "list the folder over a data connection (MLSD/LIST) instead",
};

/** A listing exceeded a cap. Not retriable: the same server gives the same listing. */
// Keeps the name "ProtocolError": callers that test the name treat it as the protocol error it is.
export class ListingLimitError extends ProtocolError {
  readonly limit: ListingLimit;
  readonly max: number;
  constructor(limit: ListingLimit, max: number, what: string) {
    super(`${what}${HOW_TO_RAISE[limit] ? `; ${HOW_TO_RAISE[limit]}` : ""}`);
    this.limit = limit;
    this.max = max;
  }
}

/** Parse a positive whole-number cap from a CLI flag or config value, naming the flag on error. */
export function parseLimit(text: string | number, flag: string): number {
  const n = typeof text === "number" ? text : Number(text);
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`${flag} must be a whole number of at least 1, not ${JSON.stringify(text)}`);
  return n;
}
