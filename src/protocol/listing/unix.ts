import type { ListingFormat, ParsedEntry, ParsedEntryType } from "./types.js";

// `ls -l` as Unix servers send it (POSIX ls, "Long Output Format"):
//   drwxr-xr-x   2 owner group   4096 Feb 11 10:15 name
//   -rw-r--r--   1 owner         1234 Jan  1  2020 name          (no group: some servers)
//   lrwxrwxrwx   1 0     0          7 2024-02-11 10:15 link -> target   (ISO dates: --time-style)
//   crw-rw-rw-   1 root  root   1,   3 Feb 11 10:15 null          (devices: major, minor)
// The owner/group part is taken lazily up to the last number before the date, so owner names
// with spaces or digits survive. After the date comes exactly one space, then the name, so a
// name that starts with a space keeps it.
const MONTH_DATE = String.raw`[A-Za-z]{3}\s+\d{1,2}\s+(?:\d{1,2}:\d{2}|\d{4})`;
const ISO_DATE = String.raw`\d{4}-\d{2}-\d{2}\s+\d{2}:\d{2}`;
const UNIX_LINE = new RegExp(
  String.raw`^([-bcdlpsDn])([-rwxsStTlL]{9})[.+@]?\s+\d+\s+(.+?)\s+(\d+|\d+,\s*\d+)\s+(${MONTH_DATE}|${ISO_DATE}) (.*)$`,
  "s",
);

function typeOf(ch: string): ParsedEntryType {
  if (ch === "-") return "file";
  if (ch === "d") return "dir";
  if (ch === "l") return "symlink";
  return "other";
}

/** Parse one `ls -l` line; undefined for lines without an entry ("total 12"). */
export function parseUnixLine(line: string): ParsedEntry | undefined {
  const m = UNIX_LINE.exec(line);
  if (!m) return undefined;
  const [, typeCh = "", , , size = "", date = "", rest = ""] = m;
  const type = typeOf(typeCh);
  const entry: ParsedEntry = { name: rest, type, rawModifiedAt: date.replace(/\s+/g, " ") };
  if (/^\d+$/.test(size)) entry.size = Number(size);
  if (type === "symlink") {
    // "a -> b": the first " -> " splits; a name holding " -> " itself is ambiguous in LIST.
    const arrow = rest.indexOf(" -> ");
    if (arrow >= 0) {
      entry.name = rest.slice(0, arrow);
      entry.target = rest.slice(arrow + 4);
    }
  }
  return entry;
}

/** Unix `ls -l` as a listing strategy. */
export const unixFormat: ListingFormat = {
  name: "unix",
  testLine: (line) => UNIX_LINE.test(line),
  parseLine: parseUnixLine,
  transformList: (entries) => entries,
};
