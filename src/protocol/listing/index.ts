import { ProtocolError } from "../errors.js";
import { unsafeNameReason } from "../remotePath.js";
import { dosFormat } from "./dos.js";
import { mlsxFormat } from "./mlsx.js";
import type { ListingFormat, ParsedEntry } from "./types.js";
import { unixFormat } from "./unix.js";

export type { ListingFormat, ParsedEntry, ParsedEntryType } from "./types.js";
export { parseMlsxLine, parseMlsxFacts, mlsxFormat } from "./mlsx.js";
export { parseUnixLine, unixFormat } from "./unix.js";
export { parseDosLine, dosFormat } from "./dos.js";

/** The LIST formats in detection order; MLSD output is parsed with mlsxFormat directly. */
export const LIST_FORMATS: readonly ListingFormat[] = [unixFormat, dosFormat, mlsxFormat];

/** A listing line that was refused, and why. */
export interface RejectedLine {
  readonly line: string;
  readonly reason: string;
}

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
 * Parse a listing. `format` forces one (MLSD output); otherwise it is detected. Entries
 * whose names could escape a destination ("..", "/", "\\", NUL, control characters) are
 * refused into `rejected`, never returned (DESIGN.md "Transfer safety"); "." and ".."
 * themselves (from `LIST -a`) are simply skipped. Lines of no known format are an error
 * naming the fix.
 */
export function parseListing(text: string, format?: ListingFormat): ParsedListing {
  const lines = splitListingLines(text);
  const chosen = format ?? detectListingFormat(lines);
  if (!chosen) {
    if (lines.every((l) => /^total\s+\d+/i.test(l))) return { format: "empty", entries: [], rejected: [] };
    throw new ProtocolError(
      `unrecognised directory listing format (first line ${JSON.stringify((lines[0] ?? "").slice(0, 100))}); ` +
        "ferry reads Unix ls -l, DOS/IIS and MLSD listings - if the server offers MLSD, enable it there",
    );
  }
  const entries: ParsedEntry[] = [];
  const rejected: RejectedLine[] = [];
  for (const line of lines) {
    let entry: ParsedEntry | undefined;
    try {
      entry = chosen.parseLine(line);
    } catch (err) {
      rejected.push({ line, reason: (err as Error).message });
      continue;
    }
    if (!entry) continue;
    if (entry.name === "." || entry.name === "..") continue;
    const reason = unsafeNameReason(entry.name);
    if (reason) rejected.push({ line, reason });
    else entries.push(entry);
  }
  return { format: chosen.name, entries: chosen.transformList(entries), rejected };
}
