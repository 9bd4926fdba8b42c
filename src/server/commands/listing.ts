import { once } from "node:events";
import type { Dirent } from "node:fs";
import { LISTING_DEFAULTS, formatMlsxLine, formatUnixListLine, type ListEntry } from "../../protocol/index.js";
import { toListEntry, type VirtualPath } from "../FileSystem.js";
import { isUnlistedName } from "../pathNames.js";
import { ReplyError } from "../errors.js";
import type { Session } from "../Session.js";
import { command, type CommandSpec } from "./types.js";

type LineFormat = (entry: ListEntry, name: string) => string;

/** LIST/NLST/STAT arguments: leading "-la"-style options (tolerated; "a" shows dotfiles), then a path. */
export function parseListArg(arg: string): { showHidden: boolean; path: string } {
  let showHidden = false;
  let rest = arg.trim();
  for (let m = /^(-[a-zA-Z]+)(?:\s+|$)/.exec(rest); m; m = /^(-[a-zA-Z]+)(?:\s+|$)/.exec(rest)) {
    if (/[aA]/.test(m[1]!)) showHidden = true;
    rest = rest.slice(m[0].length);
  }
  return { showHidden, path: rest };
}

/** MLST perm fact letters for the session's user (RFC 3659 section 7.5.5). */
export function permFact(s: Session, entry: ListEntry): string {
  const ro = s.principal?.readOnly ?? true;
  if (entry.type === "dir") return ro ? "el" : "flcdmpe";
  return ro ? "r" : "adfrw";
}

/** Entries stat()ed concurrently while listing: fast on 100,000 entries, still bounded memory. */
const STAT_BATCH = 64;

/**
 * The lines of a listing of `target`, produced a batch at a time from an opened directory
 * (never one big string or array, so 100,000 entries cost constant memory). Names holding
 * CR or LF are skipped: they would forge lines in the listing; so are upload temporaries and
 * names that are not UTF-8 (pathNames.ts). `namesOnly` (NLST) skips
 * the stat of plain entries; symlinks are still checked so links leading out stay hidden.
 */
async function* listLines(s: Session, target: VirtualPath, format: LineFormat, showHidden: boolean, namesOnly = false): AsyncGenerator<string> {
  const st = await s.fs.stat(target);
  if (!st.isDirectory()) {
    yield format(toListEntry(st), target.slice(target.lastIndexOf("/") + 1)) + "\r\n";
    return;
  }
  const real = await s.fs.existing(target);
  let batch: Dirent[] = [];
  const render = async (dirents: Dirent[]): Promise<string> => {
    const entries = await Promise.all(dirents.map((d) =>
      namesOnly && !d.isSymbolicLink() ? PLAIN : s.fs.listEntry(real, d.name)));
    return dirents.map((d, i) => (entries[i] ? format(entries[i], d.name) + "\r\n" : "")).join("");
  };
  for await (const dirent of await s.fs.openDir(target)) {
    if ((!showHidden && dirent.name.startsWith(".")) || /[\r\n]/.test(dirent.name) || isUnlistedName(dirent.name)) continue;
    batch.push(dirent);
    if (batch.length >= STAT_BATCH) {
      yield await render(batch);
      batch = [];
    }
  }
  if (batch.length) yield await render(batch);
}

/** Stand-in entry for NLST, which prints names only. */
const PLAIN: ListEntry = { type: "file", size: 0, mtime: new Date(0), mode: 0 };

/** Write lines through `write` in ~64 KiB batches (write waits for backpressure). Returns bytes written. */
export async function writeLines(lines: AsyncIterable<string>, write: (text: string) => Promise<void>, signal?: AbortSignal): Promise<number> {
  let batch = "";
  let bytes = 0;
  for await (const line of lines) {
    signal?.throwIfAborted();
    batch += line;
    if (batch.length >= 65536) {
      bytes += Buffer.byteLength(batch);
      await write(batch);
      batch = "";
    }
  }
  if (batch) {
    bytes += Buffer.byteLength(batch);
    await write(batch);
  }
  return bytes;
}

/** Send a listing over the data connection; the target is checked before 150 is sent. */
async function sendListing(s: Session, verb: string, path: string, format: LineFormat, showHidden: boolean, dirOnly = false, namesOnly = false): Promise<void> {
  const target = s.resolve(path);
  const st = await s.fs.stat(target);
  if (dirOnly && !st.isDirectory()) throw new ReplyError(501, `${target}: not a directory (use MLST for a file)`);
  if (!s.requireDataChannel()) return;
  await s.runTransfer(verb, target, `Here comes the listing of ${target}`, async (data, signal) => {
    const write = async (text: string): Promise<void> => {
      if (!data.write(text)) await once(data, "drain", { signal });
    };
    const bytes = await writeLines(listLines(s, target, format, showHidden, namesOnly), write, signal);
    data.end();
    await once(data, "finish", { signal });
    return { bytes };
  });
}

const list = async (s: Session, arg: string): Promise<void> => {
  const { showHidden, path } = parseListArg(arg);
  const now = new Date();
  await sendListing(s, "LIST", path, (e, name) => formatUnixListLine(e, name, now), showHidden);
};

const nlst = async (s: Session, arg: string): Promise<void> => {
  const { showHidden, path } = parseListArg(arg);
  await sendListing(s, "NLST", path, (_e, name) => name, showHidden, false, true);
};

const mlsd = async (s: Session, arg: string): Promise<void> => {
  await sendListing(s, "MLSD", arg, (e, name) => formatMlsxLine(e, name, permFact(s, e), s.mlstFacts), true, true);
};

const mlst = async (s: Session, arg: string): Promise<void> => {
  const target = s.resolve(arg);
  const entry = toListEntry(await s.fs.stat(target));
  // RFC 3659 section 7.2: the fact line starts with one space and carries the full path.
  s.reply(250, [`Listing ${target}`, " " + formatMlsxLine(entry, target, permFact(s, entry), s.mlstFacts), "End"]);
};

function statusLines(s: Session): string[] {
  const t = s.transfer;
  return [
    "ferry FTP server status:",
    ` Connected from ${s.remoteAddress}`,
    s.principal ? ` Logged in as ${s.principal.name}${s.principal.readOnly ? " (read-only)" : ""}` : " Not logged in",
    ` TYPE: ${s.type === "A" ? "ASCII" : "BINARY"}, STRUcture: File, MODE: Stream`,
    t ? ` ${t.verb} ${t.path} in progress: ${t.bytes} bytes so far` : " No data connection",
    "End of status",
  ];
}

/**
 * `STAT -M path`, ferry's extension (FEAT "STAT MLSD"): the MLSD listing of a folder over the
 * control connection, one round trip instead of a data connection's three, with MLSD's
 * exact facts (a LIST date is not precise enough for a mirror to compare by). The same
 * lines as MLSD (confined, temp and CR/LF names hidden), each indented by one space, after
 * a "type=cdir" line so even an empty folder shows it was listed. A client holds such a
 * reply whole, so it is built first and refused with 552 when longer than
 * LISTING_DEFAULTS.maxControlListingBytes: the client then lists over a data connection.
 * A file is refused with 550, so the client's MLSD gives the answer it always gave (501).
 */
async function statMlsd(s: Session, path: string): Promise<void> {
  const target = s.resolve(path);
  const st = await s.fs.stat(target);
  const max = LISTING_DEFAULTS.maxControlListingBytes;
  const format: LineFormat = (e, name) => formatMlsxLine(e, name, permFact(s, e), s.mlstFacts);
  if (!st.isDirectory()) throw new ReplyError(550, `${target}: not a directory (use MLST for a file)`);
  const here = toListEntry(st);
  let body = ` ${formatMlsxLine(here, /[\r\n]/.test(target) ? "." : target, permFact(s, here), s.mlstFacts, "cdir")}\r\n`;
  let bytes = Buffer.byteLength(body);
  for await (const chunk of listLines(s, target, format, true)) {
    const indented = chunk.replace(/^(?=.)/gm, " ");
    body += indented;
    bytes += Buffer.byteLength(indented);
    // Leaving the loop returns the generator, and with it the directory handle it iterates.
    if (bytes > max) return s.reply(552, `${target}: the listing is larger than ${max} bytes; list it over a data connection (MLSD)`);
  }
  s.writeRaw(`213-Listing of ${target.replace(/[\r\n]/g, " ")}\r\n${body}213 End of status\r\n`);
}

const stat = async (s: Session, arg: string): Promise<void> => {
  // RFC 959 section 4.1.3: during a transfer STAT reports the transfer, with or without an
  // argument; a listing then would be written between the transfer's own replies.
  if (arg === "" || s.transfer) return s.reply(211, statusLines(s));
  if (!s.principal) return s.reply(530, "Please log in with USER and PASS first");
  if (!s.can("list")) return s.reply(550, "Permission denied");
  const mlsd = /^-M(?:\s+|$)/.exec(arg);
  if (mlsd) return statMlsd(s, arg.slice(mlsd[0].length));
  const { showHidden, path } = parseListArg(arg);
  const target = s.resolve(path);
  await s.fs.stat(target);
  const now = new Date();
  // A listing over the control connection (RFC 959 STAT with a path): streamed as a 213
  // multi-line reply; each line starts with a space so none can pass for the end line.
  s.writeRaw(`213-Status of ${target}:\r\n`);
  const lines = (async function* () {
    for await (const l of listLines(s, target, (e, name) => formatUnixListLine(e, name, now), showHidden)) yield " " + l;
  })();
  await writeLines(lines, (text) => s.writeControl(text));
  s.reply(213, "End of status");
};

/** Listings: LIST NLST MLSD MLST STAT. */
export const LISTING_COMMANDS: readonly CommandSpec[] = [
  command("LIST", "LIST [-la] [path]", list, { perm: "list" }),
  command("NLST", "NLST [-a] [path]", nlst, { perm: "list" }),
  command("MLSD", "MLSD [path]", mlsd, { perm: "list" }),
  command("MLST", "MLST [path]", mlst, { perm: "list", feat: "MLST type*;size*;modify*;perm*;unique*;" }),
  command("STAT", "STAT [-M] [path]", stat, { auth: false, duringTransfer: true, feat: "STAT MLSD" }),
];
