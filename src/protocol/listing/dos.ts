import type { ListingFormat, ParsedEntry } from "./types.js";

// DOS/IIS style: "02-11-24  10:15AM       <DIR>          name" or "02-11-2024  14:15  1234 name".
// The name is whatever follows the size column's padding.
const DOS_LINE = /^(\d{2}-\d{2}-\d{2,4}\s+\d{1,2}:\d{2}(?:\s*[AaPp][Mm])?)\s+(<DIR>|\d+)\s+(.+)$/s;

/** Parse one DOS/IIS listing line. */
export function parseDosLine(line: string): ParsedEntry | undefined {
  const m = DOS_LINE.exec(line);
  if (!m) return undefined;
  const [, date = "", sizeOrDir = "", name = ""] = m;
  if (sizeOrDir === "<DIR>") return { name, type: "dir", rawModifiedAt: date.replace(/\s+/g, " ") };
  return { name, type: "file", size: Number(sizeOrDir), rawModifiedAt: date.replace(/\s+/g, " ") };
}

/** DOS/IIS as a listing strategy. */
export const dosFormat: ListingFormat = {
  name: "dos",
  testLine: (line) => DOS_LINE.test(line),
  parseLine: parseDosLine,
  transformList: (entries) => entries,
};
