import { test } from "node:test";
import assert from "node:assert/strict";
import {
  parseListing, parseUnixLine, parseDosLine, parseMlsxLine, detectListingFormat, mlsxFormat, ProtocolError,
  type ParsedEntry,
} from "../../src/protocol/index.js";

// Real lines: vsftpd 3.0.3 and pure-ftpd 1.0.50 on Debian, GNU ls, IIS 10, ProFTPD MLSD, and
// listings quoted in basic-ftp's test/parseListSpec.js bug reports.
const unixRows: { title: string; input: string; expected: ParsedEntry | undefined }[] = [
  {
    title: "vsftpd file with numeric owner and group, time",
    input: "-rw-r--r--    1 1001     65534        1234 Feb 11 10:15 report.csv",
    expected: { name: "report.csv", type: "file", size: 1234, rawModifiedAt: "Feb 11 10:15" },
  },
  {
    title: "directory, year instead of time",
    input: "drwxr-xr-x    2 ftp      ftp          4096 Jan  1  2020 old stuff",
    expected: { name: "old stuff", type: "dir", size: 4096, rawModifiedAt: "Jan 1 2020" },
  },
  {
    title: "no group column",
    input: "-rw-r--r--   1 owner        98765 Nov  3 09:01 nogroup.bin",
    expected: { name: "nogroup.bin", type: "file", size: 98765, rawModifiedAt: "Nov 3 09:01" },
  },
  {
    title: "symlink a -> b",
    input: "lrwxrwxrwx    1 0        0               7 Feb 11 10:15 latest -> v1.2.3",
    expected: { name: "latest", type: "symlink", size: 7, rawModifiedAt: "Feb 11 10:15", target: "v1.2.3" },
  },
  {
    title: "names with spaces, leading and inner",
    input: "-rw-r--r--    1 user     group          5 Mar 30 23:59  two  spaces .txt",
    expected: { name: " two  spaces .txt", type: "file", size: 5, rawModifiedAt: "Mar 30 23:59" },
  },
  {
    title: "pure-ftpd style with owner names and ACL marker",
    input: "-rw-r--r--+   1 alice    staff    1048577 Dec 24  2001 odd-size.bin",
    expected: { name: "odd-size.bin", type: "file", size: 1048577, rawModifiedAt: "Dec 24 2001" },
  },
  {
    title: "ISO time style (ls --time-style=long-iso)",
    input: "-rw-r--r-- 1 root root 42 2024-02-11 10:15 iso.txt",
    expected: { name: "iso.txt", type: "file", size: 42, rawModifiedAt: "2024-02-11 10:15" },
  },
  {
    title: "character device with major, minor",
    input: "crw-rw-rw-    1 root     root       1,   3 Feb 11 10:15 null",
    expected: { name: "null", type: "other", rawModifiedAt: "Feb 11 10:15" },
  },
  {
    title: "UTF-8 name",
    input: "-rw-r--r--    1 1001     65534           5 Feb 11 10:15 uni-ü-日本.txt",
    expected: { name: "uni-ü-日本.txt", type: "file", size: 5, rawModifiedAt: "Feb 11 10:15" },
  },
  { title: "total line carries no entry", input: "total 12", expected: undefined },
];

for (const row of unixRows) {
  test(`unix: ${row.title}`, () => assert.deepEqual(parseUnixLine(row.input), row.expected));
}

const dosRows: { title: string; input: string; expected: ParsedEntry | undefined }[] = [
  {
    title: "IIS directory",
    input: "02-11-24  10:15AM       <DIR>          name",
    expected: { name: "name", type: "dir", rawModifiedAt: "02-11-24 10:15AM" },
  },
  {
    title: "IIS file with spaces in the name",
    input: "02-11-24  01:05PM              1234 my report.docx",
    expected: { name: "my report.docx", type: "file", size: 1234, rawModifiedAt: "02-11-24 01:05PM" },
  },
  {
    title: "four-digit year and 24-hour time",
    input: "11-24-2026  14:15                 0 empty.txt",
    expected: { name: "empty.txt", type: "file", size: 0, rawModifiedAt: "11-24-2026 14:15" },
  },
  { title: "not a DOS line", input: "drwxr-xr-x 2 a b 1 Jan 1 2020 x", expected: undefined },
];

for (const row of dosRows) {
  test(`dos: ${row.title}`, () => assert.deepEqual(parseDosLine(row.input), row.expected));
}

const mlsxRows: { title: string; input: string; expected: ParsedEntry | undefined }[] = [
  {
    title: "file with size and modify",
    input: "type=file;size=1830;modify=20240211101530;perm=adfrw; notes.txt",
    expected: {
      name: "notes.txt", type: "file", size: 1830, modifiedAt: new Date(Date.UTC(2024, 1, 11, 10, 15, 30)),
      facts: { type: "file", size: "1830", modify: "20240211101530", perm: "adfrw" },
    },
  },
  {
    title: "fractional seconds, upper-case fact names, name with spaces and semicolon",
    input: "Type=dir;Modify=20240211101530.250;UNIX.mode=0755; a dir; really",
    expected: {
      name: "a dir; really", type: "dir", modifiedAt: new Date(Date.UTC(2024, 1, 11, 10, 15, 30, 250)),
      facts: { type: "dir", modify: "20240211101530.250", "unix.mode": "0755" },
    },
  },
  {
    title: "pyftpdlib-style symlink with target",
    input: "type=OS.unix=slink:/srv/data;modify=20240211101530; link",
    expected: {
      name: "link", type: "symlink", target: "/srv/data", modifiedAt: new Date(Date.UTC(2024, 1, 11, 10, 15, 30)),
      facts: { type: "OS.unix=slink:/srv/data", modify: "20240211101530" },
    },
  },
  { title: "cdir is not an entry", input: "type=cdir;modify=20240211101530; .", expected: undefined },
  { title: "pdir is not an entry", input: "type=pdir;modify=20240211101530; ..", expected: undefined },
];

for (const row of mlsxRows) {
  test(`mlsx: ${row.title}`, () => assert.deepEqual(parseMlsxLine(row.input), row.expected));
}

test("mlsx: a line without facts is a ProtocolError", () => {
  assert.throws(() => parseMlsxLine("just a name"), ProtocolError);
});

const detectRows = [
  { title: "unix after a total line", lines: ["total 8", "-rw-r--r-- 1 a b 1 Jan 1 2020 x"], expected: "unix" },
  { title: "dos", lines: ["02-11-24  10:15AM       <DIR>          name"], expected: "dos" },
  { title: "mlsx", lines: ["type=file;size=1; x"], expected: "mlsx" },
  { title: "nothing known", lines: ["hello world"], expected: undefined },
];
for (const row of detectRows) {
  test(`detect: ${row.title}`, () => assert.equal(detectListingFormat(row.lines)?.name, row.expected));
}

test("parseListing refuses hostile names and skips . and ..", () => {
  const text = [
    "total 20",
    "drwxr-xr-x    2 0 0 4096 Feb 11 10:15 .",
    "drwxr-xr-x    2 0 0 4096 Feb 11 10:15 ..",
    "-rw-r--r--    1 0 0    1 Feb 11 10:15 ../../etc/passwd",
    "-rw-r--r--    1 0 0    1 Feb 11 10:15 a/b",
    "-rw-r--r--    1 0 0    1 Feb 11 10:15 back\\slash",
    "-rw-r--r--    1 0 0    1 Feb 11 10:15 bell\x07",
    "-rw-r--r--    1 0 0    2 Feb 11 10:15 ok.txt",
    "",
  ].join("\r\n");
  const result = parseListing(text);
  assert.equal(result.format, "unix");
  assert.deepEqual(result.entries.map((e) => e.name), ["ok.txt"]);
  assert.equal(result.rejected.length, 4);
  assert.match(result.rejected[0]?.reason ?? "", /'\/'/);
});

test("parseListing with MLSD forced, hostile MLSD names refused", () => {
  const text = "type=cdir; .\r\ntype=file;size=3; ..\r\ntype=file;size=3; good\r\ntype=dir; ../up\r\n";
  const result = parseListing(text, mlsxFormat);
  assert.deepEqual(result.entries.map((e) => e.name), ["good"]);
  // A *file* named ".." is hostile and reported (FAULTS B1); only the folders "." and ".." of LIST -a pass silently.
  assert.deepEqual(result.rejected.map((r) => r.name), ["..", "../up"]);
});

test("parseListing: empty and total-only listings are empty", () => {
  assert.deepEqual(parseListing("").entries, []);
  assert.deepEqual(parseListing("total 0\r\n").entries, []);
});

test("parseListing: an unknown format names the fix", () => {
  assert.throws(() => parseListing("hello world\r\n"), /unrecognised directory listing format.*MLSD/);
});
