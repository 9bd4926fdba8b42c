// Formatting of directory listings as a server writes them: the Unix `ls -l` line of LIST
// and the fact lines of MLSD/MLST (RFC 3659 section 7). Pure: the caller supplies the stats.

import { formatTimeVal } from "./time.js";

/** The kind of a directory entry as listings show it. */
export type EntryType = "file" | "dir" | "link" | "other";

/** What a listing line needs to know about an entry (a subset of fs.Stats). */
export interface ListEntry {
  readonly type: EntryType;
  readonly size: number;
  readonly mtime: Date;
  /** st_mode; only the permission bits (and setuid/setgid/sticky) are used. */
  readonly mode: number;
  /** Link count; default 1. */
  readonly nlink?: number;
  /** Device and inode, for MLST's unique fact. */
  readonly dev?: number;
  readonly ino?: number;
  /** Target shown after "->" for a symbolic link in LIST. */
  readonly linkTarget?: string;
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"] as const;
const SIX_MONTHS_MS = 182 * 24 * 3600 * 1000;

const TYPE_CHAR: Readonly<Record<EntryType, string>> = { file: "-", dir: "d", link: "l", other: "-" };

/** The ten-character mode string of `ls -l` ("drwxr-xr-x"), including setuid/setgid/sticky letters. */
export function formatMode(type: EntryType, mode: number): string {
  const bit = (mask: number, ch: string): string => (mode & mask ? ch : "-");
  const exec = (xMask: number, specialMask: number, setCh: string): string => {
    const x = (mode & xMask) !== 0;
    if (mode & specialMask) return x ? setCh : setCh.toUpperCase();
    return x ? "x" : "-";
  };
  return (
    TYPE_CHAR[type] +
    bit(0o400, "r") + bit(0o200, "w") + exec(0o100, 0o4000, "s") +
    bit(0o040, "r") + bit(0o020, "w") + exec(0o010, 0o2000, "s") +
    bit(0o004, "r") + bit(0o002, "w") + exec(0o001, 0o1000, "t")
  );
}

/**
 * The date column of `ls -l` in UTC: "Mar 05 14:07" within six months of `now`, else
 * "Mar 05  2019" (the form curl, lftp, FileZilla and basic-ftp all parse).
 */
export function formatListDate(mtime: Date, now: Date): string {
  const month = MONTHS[mtime.getUTCMonth()] ?? "Jan";
  const day = String(mtime.getUTCDate()).padStart(2, "0");
  const recent = Math.abs(now.getTime() - mtime.getTime()) < SIX_MONTHS_MS;
  if (recent) {
    const hh = String(mtime.getUTCHours()).padStart(2, "0");
    const mm = String(mtime.getUTCMinutes()).padStart(2, "0");
    return `${month} ${day} ${hh}:${mm}`;
  }
  return `${month} ${day}  ${mtime.getUTCFullYear()}`;
}

/**
 * One LIST line in Unix `ls -l` form, without line end. Owner and group are always "ftp":
 * real uids say nothing useful to a client and leak local account names.
 */
export function formatUnixListLine(entry: ListEntry, name: string, now: Date): string {
  const mode = formatMode(entry.type, entry.mode);
  const nlink = String(entry.nlink ?? 1).padStart(4);
  const size = String(entry.size).padStart(12);
  const target = entry.type === "link" && entry.linkTarget !== undefined ? ` -> ${entry.linkTarget}` : "";
  return `${mode} ${nlink} ftp      ftp      ${size} ${formatListDate(entry.mtime, now)} ${name}${target}`;
}

/** MLST facts ferry's server offers (RFC 3659 section 7.5), in FEAT order. */
export const MLSX_FACTS = ["type", "size", "modify", "perm", "unique"] as const;
export type MlsxFact = (typeof MLSX_FACTS)[number];

/**
 * One MLSD/MLST line without line end: "type=file;size=3;modify=20240101000000;perm=r; name"
 * (RFC 3659 section 7.2). `perm` is the permission letters the caller computed for the user;
 * only the facts in `selected` are written (OPTS MLST chooses them).
 */
export function formatMlsxLine(
  entry: ListEntry,
  name: string,
  perm: string,
  selected: readonly MlsxFact[] = MLSX_FACTS,
  type: string = entry.type === "dir" ? "dir" : "file",
): string {
  const facts: string[] = [];
  for (const fact of selected) {
    switch (fact) {
      case "type": facts.push(`type=${type}`); break;
      case "size": if (entry.type !== "dir") facts.push(`size=${entry.size}`); break;
      case "modify": facts.push(`modify=${formatTimeVal(new Date(Math.floor(entry.mtime.getTime() / 1000) * 1000))}`); break;
      case "perm": facts.push(`perm=${perm}`); break;
      case "unique":
        if (entry.dev !== undefined && entry.ino !== undefined) {
          facts.push(`unique=${entry.dev.toString(16)}U${entry.ino.toString(16)}`);
        }
        break;
      default: {
        const never: never = fact;
        throw new Error(`unknown MLST fact ${String(never)}`);
      }
    }
  }
  return `${facts.map((f) => f + ";").join("")} ${name}`;
}

/** Parse an OPTS MLST argument ("type;size;") into the facts ferry knows, ignoring others (RFC 3659 section 7.9). */
export function parseMlstOpts(arg: string): MlsxFact[] {
  const wanted = new Set(arg.toLowerCase().split(";").map((s) => s.trim()).filter(Boolean));
  return MLSX_FACTS.filter((f) => wanted.has(f));
}
