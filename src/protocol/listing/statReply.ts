import { ProtocolError } from "../errors.js";
import type { Reply } from "../reply.js";
import { LISTING_DEFAULTS, ListingLimitError } from "./limits.js";
import { ListingParser, type RejectedLine } from "./stream.js";
import type { ListingFormat, ParsedEntry } from "./types.js";

// A folder listed over the control connection: `STAT <path>` (RFC 959 section 4.1.3, "analogous
// to the LIST command except that data shall be transferred over the control connection").
// The listing is the body of a multi-line 211/212/213 reply: vsftpd and pure-ftpd send
// `ls -l` lines as they are, wu-ftpd and ferry indent each by one space (so no line can pass
// for the reply's end), and ferry's server sends MLSD lines when asked with `STAT -M`.
// Servers differ in ways that look alike: a status text instead of a listing (a server that
// ignores the argument), an empty body for a missing path (vsftpd, pure-ftpd), an empty body
// for a path with spaces (pure-ftpd splits the argument). The outcome says which it is.

/** What a STAT reply turned out to hold. */
export type StatListingOutcome =
  /** A listing: at least one line had a listing format ("." or MLSD cdir count: an empty folder proves itself). */
  | { readonly kind: "listing"; readonly format: ListingFormat["name"] }
  /** Nothing that shows a listing was made: an empty body. Could be an empty folder, a missing path, or no listing support. */
  | { readonly kind: "unproven" }
  /** Not a listing at all: a one-line reply, a code other than 211-213, or text of no listing format. */
  | { readonly kind: "notListing"; readonly reason: string };

/** Options of parseStatListing. */
export interface StatListingOptions {
  /** The LIST formats to detect from (MLSD lines are detected too when mlsxFormat is among them). */
  readonly candidates: readonly ListingFormat[];
  /** Most entries plus refused lines; default LISTING_DEFAULTS.maxDirEntries. */
  readonly maxEntries?: number;
  /** Most bytes of listing text; default LISTING_DEFAULTS.maxControlListingBytes. */
  readonly maxBytes?: number;
  /** What is listed, for error messages. */
  readonly what?: string;
  readonly onEntry: (entry: ParsedEntry) => void;
  readonly onRejected: (rejected: RejectedLine) => void;
}

/** RFC 959 STAT replies: 211 system status, 212 directory status, 213 file status. */
const STATUS_CODES = new Set([211, 212, 213]);

/**
 * Parse the listing carried by a STAT reply with the LIST parsers (same name safety, same
 * caps: entries, bytes, line length). Entries go to `onEntry` only when the outcome is a
 * listing; a reply that turns out not to be one hands out nothing. Throws ListingLimitError
 * when a cap is exceeded.
 */
export function parseStatListing(reply: Reply, options: StatListingOptions): StatListingOutcome {
  if (!STATUS_CODES.has(reply.code)) return { kind: "notListing", reason: `reply ${reply.code} is not a status reply` };
  // A single-line reply has no room for a listing: an empty folder is answered with a
  // multi-line reply with an empty body by every server that lists over STAT.
  if (reply.lines.length < 2) return { kind: "notListing", reason: "a one-line reply carries no listing" };
  const entries: ParsedEntry[] = [];
  const rejected: RejectedLine[] = [];
  const parser = new ListingParser({
    candidates: options.candidates, maxEntries: options.maxEntries ?? LISTING_DEFAULTS.maxDirEntries,
    maxBytes: options.maxBytes ?? LISTING_DEFAULTS.maxControlListingBytes, ...(options.what ? { what: options.what } : {}),
    onEntry: (e) => entries.push(e), onRejected: (r) => rejected.push(r),
  });
  // The first and last lines are the reply's own text ("Status follows:", "End of status").
  for (const line of reply.lines.slice(1, -1)) {
    // One leading space is the indentation some servers add; no LIST or MLSD line starts with
    // one, so a name that starts with a space (after the date or the facts) keeps it.
    parser.push(Buffer.from(`${line.startsWith(" ") ? line.slice(1) : line}\n`, "utf8"));
  }
  try {
    parser.end();
  } catch (err) {
    if (err instanceof ListingLimitError || !(err instanceof ProtocolError)) throw err;
    return { kind: "notListing", reason: err.message };
  }
  if (parser.recognised === 0 || !parser.format) {
    return rejected.length > 0 ? { kind: "notListing", reason: "no line of the reply is a listing entry" } : { kind: "unproven" };
  }
  for (const e of parser.format.transformList(entries)) options.onEntry(e);
  for (const r of rejected) options.onRejected(r);
  return { kind: "listing", format: parser.format.name };
}
