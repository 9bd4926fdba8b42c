// Listings over the control connection (STAT <path>, RFC 959 section 4.1.3): the reply's body
// goes through the LIST parsers, and the outcome tells a listing from a status text or an
// empty body that proves nothing. Replies are the ones vsftpd 3.0.3, pure-ftpd 1.0.50 and
// ferry's server sent in this repository's conformance runs; wu-ftpd's indented 211 form is
// the one quoted in nodeftpd issue 13.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  LIST_FORMATS, ListingLimitError, parseStatListing, type ParsedEntry, type Reply, type StatListingOutcome,
} from "../../src/protocol/index.js";

const VSFTPD_ROOT: Reply = {
  code: 213, lines: [
    "Status follows:",
    "drwxr-xr-x    2 1001     0            4096 Dec 03 13:24 -a",
    "drwxr-xr-x    5 1001     65534        4096 Dec 03 13:24 .",
    "drwxr-xr-x    4 0        0            4096 Dec 03 13:24 ..",
    "-rw-r--r--    1 1001     0               1 Dec 03 13:24 .hidden",
    "drwxr-xr-x    2 1001     0            4096 Dec 03 13:24 dir with space",
    "-rw-r--r--    1 1001     0               5 Jan 02  2020 file.txt",
    "End of status",
  ],
};

interface Row {
  title: string;
  reply: Reply;
  outcome: StatListingOutcome["kind"];
  /** name:type of each entry handed out, in order. */
  names?: string[];
  rejected?: number;
}

const rows: Row[] = [
  { title: "vsftpd folder: . and .. passed over, dotfiles, a folder named -a, spaces", reply: VSFTPD_ROOT, outcome: "listing",
    names: ["-a:dir", ".hidden:file", "dir with space:dir", "file.txt:file"] },
  { title: "vsftpd empty folder: only . and .. - still a listing", outcome: "listing", names: [], reply: { code: 213, lines: [
    "Status follows:", "drwxr-xr-x    2 1001     0            4096 Dec 03 13:24 .",
    "drwxr-xr-x    5 1001     65534        4096 Dec 03 13:24 ..", "End of status"] } },
  { title: "vsftpd or pure-ftpd: missing path, or pure-ftpd and a path with spaces: an empty body proves nothing", outcome: "unproven",
    reply: { code: 213, lines: ["Status follows:", "End of status"] } },
  { title: "pure-ftpd header 213-STAT, owner names", outcome: "listing", names: ["f.txt:file"], reply: { code: 213, lines: [
    "STAT", "-rw-r--r--    1 fp1576a79a 0                   5 Jan  2  2020 f.txt", "End."] } },
  { title: "a file: its own line", outcome: "listing", names: ["file.txt:file"], reply: { code: 213, lines: [
    "Status follows:", "-rw-r--r--    1 1001     0               5 Jan 02  2020 file.txt", "End of status"] } },
  { title: "wu-ftpd style 211, lines indented by one space; a name starting with a space keeps it", outcome: "listing",
    names: ["docs:dir", " lead.txt:file"], reply: { code: 211, lines: [
      "status of /:", " drwx--S---   9 ftp      ftp          4096 Dec 10 10:04 docs",
      " -rw-r--r--   1 ftp      ftp             3 Dec 10 10:04  lead.txt", "End of Status"] } },
  { title: "ferry STAT -M: cdir, MLSD facts with exact times, names with spaces and semicolons", outcome: "listing",
    names: ["a b;c.txt:file", "sub:dir"], reply: { code: 213, lines: [
      "Listing of /d", " type=cdir;modify=20240101000000;perm=flcdmpe; /d",
      " type=file;size=3;modify=20240102030405;perm=adfrw;unique=fe00U1; a b;c.txt",
      " type=dir;modify=20240101000000;perm=flcdmpe;unique=fe00U2; sub", "End of status"] } },
  { title: "ferry STAT -M of an empty folder: the cdir line proves the listing", outcome: "listing", names: [], reply: { code: 213, lines: [
    "Listing of /e", " type=cdir;modify=20240101000000;perm=flcdmpe; /e", "End of status"] } },
  { title: "server status instead of a listing (argument ignored)", outcome: "notListing", reply: { code: 211, lines: [
    "FTP server status:", "     Connected to 127.0.0.1", "     Logged in as someone", "End of status"] } },
  { title: "213 with a status text", outcome: "notListing", reply: { code: 213, lines: ["Status of x:", "File exists, 12 bytes", "End"] } },
  { title: "one-line 211 (pure-ftpd's plain STAT)", outcome: "notListing", reply: { code: 211, lines: ["https://www.pureftpd.org/"] } },
  { title: "one-line 213", outcome: "notListing", reply: { code: 213, lines: ["12345"] } },
  { title: "a code that is not a status reply", outcome: "notListing", reply: { code: 250, lines: ["Listing", "type=file;size=1; a", "End"] } },
  { title: "unsafe names refused, the rest kept", outcome: "listing", names: ["ok:file"], rejected: 2, reply: { code: 213, lines: [
    "Status follows:", "-rw-r--r--    1 0 0 1 Dec 03 13:24 ../../etc/passwd", "-rw-r--r--    1 0 0 1 Dec 03 13:24 a/b",
    "-rw-r--r--    1 0 0 1 Dec 03 13:24 ok", "End of status"] } },
];

for (const row of rows) {
  test(`parseStatListing: ${row.title}`, () => {
    const entries: ParsedEntry[] = [];
    let rejected = 0;
    const outcome = parseStatListing(row.reply, { candidates: LIST_FORMATS, onEntry: (e) => entries.push(e), onRejected: () => rejected++ });
    assert.equal(outcome.kind, row.outcome, JSON.stringify(outcome));
    assert.deepEqual(entries.map((e) => `${e.name}:${e.type}`), row.names ?? []);
    assert.equal(rejected, row.rejected ?? 0);
  });
}

test("parseStatListing: MLSD lines carry exact UTC times, LIST lines only the raw date", () => {
  const entries: ParsedEntry[] = [];
  parseStatListing({ code: 213, lines: ["x", " type=file;size=3;modify=20240102030405; a", "End"] },
    { candidates: LIST_FORMATS, onEntry: (e) => entries.push(e), onRejected: () => undefined });
  assert.equal(entries[0]?.modifiedAt?.toISOString(), "2024-01-02T03:04:05.000Z");
  const list: ParsedEntry[] = [];
  parseStatListing(VSFTPD_ROOT, { candidates: LIST_FORMATS, onEntry: (e) => list.push(e), onRejected: () => undefined });
  assert.equal(list.at(-1)?.modifiedAt, undefined);
  assert.equal(list.at(-1)?.rawModifiedAt, "Jan 02 2020");
});

test("parseStatListing: caps on entries and bytes are errors naming the cap, not truncations", () => {
  const lines = ["Status follows:", ...Array.from({ length: 50 }, (_, i) => `-rw-r--r--    1 0 0 1 Dec 03 13:24 f${i}`), "End"];
  const entries: ParsedEntry[] = [];
  const options = { candidates: LIST_FORMATS, onEntry: (e: ParsedEntry) => entries.push(e), onRejected: () => undefined };
  assert.throws(() => parseStatListing({ code: 213, lines }, { ...options, maxEntries: 10 }),
    (err: unknown) => err instanceof ListingLimitError && err.limit === "dirEntries");
  assert.throws(() => parseStatListing({ code: 213, lines }, { ...options, maxBytes: 1000 }),
    (err: unknown) => err instanceof ListingLimitError && err.limit === "bytes");
  // Nothing is handed out from a listing that was refused.
  assert.deepEqual(entries, []);
});
