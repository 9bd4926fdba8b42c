import { dosFormat } from "./dos.js";
import { ListingParser, type RejectedLine } from "./stream.js";
import { mlsxFormat } from "./mlsx.js";
import type { ListingFormat, ParsedEntry } from "./types.js";
import { unixFormat } from "./unix.js";

export type { ListingFormat, ParsedEntry, ParsedEntryType } from "./types.js";
export { parseMlsxLine, parseMlsxFacts, mlsxFormat } from "./mlsx.js";
export { parseUnixLine, unixFormat } from "./unix.js";
export { parseDosLine, dosFormat } from "./dos.js";
export { ListingParser, type ListingParserOptions, type RejectedLine } from "./stream.js";
export { parseStatListing, type StatListingOptions, type StatListingOutcome } from "./statReply.js";
export { LISTING_DEFAULTS, ListingLimitError, parseLimit, type ListingLimit } from "./limits.js";

/** The LIST formats in detection order; MLSD output is parsed with mlsxFormat directly. */
export const LIST_FORMATS: readonly ListingFormat[] = [unixFormat, dosFormat, mlsxFormat];

/** The result of parsing a listing: safe entries, and the lines refused as unsafe. */
export interface ParsedListing {
  readonly format: ListingFormat["name"] | "empty";
  readonly entries: ParsedEntry[];
  readonly rejected: RejectedLine[];
}

/** Split listing text into non-empty lines (CRLF or LF). */
export function splitListingLines(text: string): string[] {
  return text.split(/\r?\n/).filter((l) => l.trim() !== "");
}

/**
 * Pick the format of a LIST reply from its first line that any format recognises
 * (STYLE guideline 4: detect once). Lines like "total 12" match none and are passed over.
 */
export function detectListingFormat(lines: readonly string[]): ListingFormat | undefined {
  for (const line of lines) {
    const format = LIST_FORMATS.find((f) => f.testLine(line));
    if (format) return format;
  }
  return undefined;
}

/**
 * Parse a whole listing held in memory (tests, MLST replies); streams go through
 * ListingParser, which this wraps. `format` forces one (MLSD output); otherwise it is
 * detected. Unsafe names are refused into `rejected`. Lines of no known format are an error
 * naming the fix.
 */
export function parseListing(text: string, format?: ListingFormat, options: { maxEntries?: number } = {}): ParsedListing {
  const entries: ParsedEntry[] = [];
  const rejected: RejectedLine[] = [];
  const parser = new ListingParser({
    candidates: LIST_FORMATS, ...(format ? { format } : {}), maxEntries: options.maxEntries ?? Number.MAX_SAFE_INTEGER,
    maxBytes: Number.MAX_SAFE_INTEGER, onEntry: (e) => entries.push(e), onRejected: (r) => rejected.push(r),
  });
  parser.push(Buffer.from(text, "utf8"));
  parser.end();
  const chosen = parser.format;
  if (!chosen) return { format: "empty", entries: [], rejected };
  return { format: chosen.name, entries: chosen.transformList(entries), rejected };
}
