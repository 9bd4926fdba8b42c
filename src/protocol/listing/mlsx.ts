import { ProtocolError } from "../errors.js";
import { parseTimeVal } from "../time.js";
import type { ListingFormat, ParsedEntry, ParsedEntryType } from "./types.js";

// MLSD/MLST lines (RFC 3659 section 7.2): "fact=value;fact=value; name". The facts end at the
// first space; everything after that single space is the name, spaces and semicolons included.
const FACTS_LINE = /^((?:[^=;\s]+=[^;]*;)+) (.*)$/s;

function entryType(facts: Record<string, string>): ParsedEntryType | "skip" {
  const type = (facts.type ?? "").toLowerCase();
  if (type === "file") return "file";
  if (type === "dir") return "dir";
  // "cdir" and "pdir" are the listed directory itself and its parent: not entries.
  if (type === "cdir" || type === "pdir") return "skip";
  // RFC 3659 leaves OS-specific types open; "OS.unix=symlink" (pure-ftpd, proftpd) and
  // "OS.unix=slink:target" (pyftpdlib, ferry) are the two spellings seen in the wild.
  if (type.startsWith("os.unix=symlink") || type.startsWith("os.unix=slink")) return "symlink";
  return "other";
}

/** Parse the facts of one MLSD/MLST line into a lower-cased map. */
export function parseMlsxFacts(text: string): Record<string, string> {
  const facts: Record<string, string> = {};
  for (const part of text.split(";")) {
    const eq = part.indexOf("=");
    if (eq <= 0) continue;
    facts[part.slice(0, eq).trim().toLowerCase()] = part.slice(eq + 1);
  }
  return facts;
}

/** Parse one MLSD/MLST line; undefined for the cdir/pdir entries. */
export function parseMlsxLine(line: string): ParsedEntry | undefined {
  const m = FACTS_LINE.exec(line);
  if (!m) throw new ProtocolError(`not an MLSD/MLST line: ${JSON.stringify(line.slice(0, 80))}`);
  const facts = parseMlsxFacts(m[1] ?? "");
  const type = entryType(facts);
  if (type === "skip") return undefined;
  const entry: ParsedEntry = { name: m[2] ?? "", type, facts };
  if (facts.size !== undefined && /^\d+$/.test(facts.size)) entry.size = Number(facts.size);
  if (facts.modify !== undefined) {
    try {
      entry.modifiedAt = parseTimeVal(facts.modify);
    } catch {
      // A malformed modify fact leaves the time unknown rather than failing the listing.
    }
  }
  const slink = /^os\.unix=slink:(.*)$/i.exec(facts.type ?? "");
  if (slink?.[1]) entry.target = slink[1];
  return entry;
}

/** MLSD/MLST as a listing strategy. */
export const mlsxFormat: ListingFormat = {
  name: "mlsx",
  testLine: (line) => FACTS_LINE.test(line) && /(^|;)type=/i.test(line),
  parseLine: parseMlsxLine,
  transformList: (entries) => entries,
};
