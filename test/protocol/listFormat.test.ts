import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  formatListDate, formatMlsxLine, formatMode, formatUnixListLine, parseMlstOpts, type ListEntry,
} from "../../src/protocol/index.js";

const NOW = new Date("2024-06-15T12:00:00Z");
const file = (over: Partial<ListEntry> = {}): ListEntry => ({
  type: "file", size: 1234, mtime: new Date("2024-03-05T14:07:09Z"), mode: 0o100644, nlink: 1, dev: 2049, ino: 77, ...over,
});

describe("formatMode", () => {
  const rows: Array<{ title: string; type: ListEntry["type"]; mode: number; expected: string }> = [
    { title: "plain file", type: "file", mode: 0o644, expected: "-rw-r--r--" },
    { title: "directory", type: "dir", mode: 0o755, expected: "drwxr-xr-x" },
    { title: "setuid + exec", type: "file", mode: 0o4755, expected: "-rwsr-xr-x" },
    { title: "setgid no exec", type: "file", mode: 0o2644, expected: "-rw-r-Sr--" },
    { title: "sticky dir", type: "dir", mode: 0o1777, expected: "drwxrwxrwt" },
    { title: "symlink", type: "link", mode: 0o777, expected: "lrwxrwxrwx" },
    { title: "no permissions", type: "file", mode: 0, expected: "----------" },
  ];
  for (const r of rows) it(r.title, () => assert.equal(formatMode(r.type, r.mode), r.expected));
});

describe("formatListDate", () => {
  const rows = [
    { title: "recent: time of day", mtime: "2024-03-05T14:07:09Z", expected: "Mar 05 14:07" },
    { title: "older than six months: year", mtime: "2019-12-31T23:59:59Z", expected: "Dec 31  2019" },
    { title: "in the future beyond six months: year", mtime: "2025-06-15T00:00:00Z", expected: "Jun 15  2025" },
  ];
  for (const r of rows) it(r.title, () => assert.equal(formatListDate(new Date(r.mtime), NOW), r.expected));
});

describe("formatUnixListLine", () => {
  const rows = [
    { title: "file", entry: file(), name: "a.txt", expected: "-rw-r--r--    1 ftp      ftp              1234 Mar 05 14:07 a.txt" },
    { title: "dir", entry: file({ type: "dir", size: 4096, mode: 0o40755, nlink: 3 }), name: "sub", expected: "drwxr-xr-x    3 ftp      ftp              4096 Mar 05 14:07 sub" },
    { title: "name with spaces and UTF-8", entry: file({ size: 0 }), name: "über ☃ x", expected: "-rw-r--r--    1 ftp      ftp                 0 Mar 05 14:07 über ☃ x" },
    { title: "link with target", entry: file({ type: "link", mode: 0o777, linkTarget: "a.txt" }), name: "l", expected: "lrwxrwxrwx    1 ftp      ftp              1234 Mar 05 14:07 l -> a.txt" },
  ];
  for (const r of rows) it(r.title, () => assert.equal(formatUnixListLine(r.entry, r.name, NOW), r.expected));
});

describe("formatMlsxLine", () => {
  const rows = [
    { title: "file, all facts", entry: file(), name: "a.txt", perm: "adfrw", facts: undefined,
      expected: "type=file;size=1234;modify=20240305140709;perm=adfrw;unique=801U4d; a.txt" },
    { title: "dir has no size", entry: file({ type: "dir" }), name: "d", perm: "el", facts: undefined,
      expected: "type=dir;modify=20240305140709;perm=el;unique=801U4d; d" },
    { title: "selected facts only", entry: file({ mtime: new Date("2024-03-05T14:07:09.999Z") }), name: "a", perm: "r", facts: ["size", "modify"] as const,
      expected: "size=1234;modify=20240305140709; a" },
    { title: "no facts", entry: file(), name: "a", perm: "r", facts: [] as const, expected: " a" },
  ];
  for (const r of rows) it(r.title, () => assert.equal(formatMlsxLine(r.entry, r.name, r.perm, r.facts), r.expected));
});

describe("parseMlstOpts", () => {
  const rows = [
    { input: "type;size;", expected: ["type", "size"] },
    { input: "Modify;UNIX.mode;perm", expected: ["modify", "perm"] },
    { input: "", expected: [] },
  ];
  for (const r of rows) it(JSON.stringify(r.input), () => assert.deepEqual(parseMlstOpts(r.input), r.expected));
});
