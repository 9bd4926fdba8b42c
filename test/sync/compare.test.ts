import { test } from "node:test";
import assert from "node:assert/strict";
import { compare, type CompareOptions } from "../../src/sync/compare.js";
import type { Entry } from "../../src/sync/tree.js";
import { file } from "./fixtures.js";

const T = 1_700_000_000;
const sha = (value: string) => ({ algorithm: "SHA-256" as const, value });
const withHash = (e: Entry, value: string): Entry => ({ ...e, hash: sha(value) });

const rows: { title: string; src: Entry; dst: Entry; opts?: CompareOptions; same: boolean; reason: RegExp }[] = [
  { title: "size differs", src: file("f", 10, T), dst: file("f", 11, T), same: false, reason: /size differs \(10 vs 11\)/ },
  { title: "same size, same mtime", src: file("f", 10, T), dst: file("f", 10, T), same: true, reason: /same size and modification time/ },
  { title: "mtime within the 1 s window", src: file("f", 10, T + 0.4), dst: file("f", 10, T), same: true, reason: /modification time/ },
  { title: "mtime outside the window", src: file("f", 10, T + 5), dst: file("f", 10, T), same: false, reason: /differs by 5.0 s/ },
  { title: "wider window", src: file("f", 10, T + 5), dst: file("f", 10, T), opts: { modifyWindowMs: 60_000 }, same: true, reason: /modification time/ },
  { title: "LIST-only destination: coarse time never trusted", src: file("f", 10, T), dst: file("f", 10, T, false), same: false, reason: /no trustworthy/ },
  { title: "LIST-only destination, sync state matches", src: file("f", 10, T), dst: file("f", 10, T + 3600, false),
    opts: { state: { size: 10, srcStamp: String(T * 1000) } }, same: true, reason: /sync state/ },
  { title: "sync state of an older source version", src: file("f", 10, T + 60), dst: file("f", 10, T, false),
    opts: { state: { size: 10, srcStamp: String(T * 1000) } }, same: false, reason: /no trustworthy/ },
  { title: "server cannot set mtime: precise but different, state matches", src: file("f", 10, T), dst: file("f", 10, T + 99),
    opts: { state: { size: 10, srcStamp: String(T * 1000) } }, same: true, reason: /sync state/ },
  { title: "checksum equal overrides mtime", src: withHash(file("f", 10, T + 99), "ab"), dst: withHash(file("f", 10, T), "AB"),
    opts: { checksum: true }, same: true, reason: /same size and SHA-256/ },
  { title: "checksum differs despite equal mtime", src: withHash(file("f", 10, T), "ab"), dst: withHash(file("f", 10, T), "cd"),
    opts: { checksum: true }, same: false, reason: /SHA-256 differs/ },
  { title: "checksum asked, destination has none: falls back to mtime", src: withHash(file("f", 10, T), "ab"), dst: file("f", 10, T),
    opts: { checksum: true }, same: true, reason: /modification time/ },
  { title: "hashes ignored without --checksum", src: withHash(file("f", 10, T), "ab"), dst: withHash(file("f", 10, T), "cd"),
    same: true, reason: /modification time/ },
  { title: "size still wins over checksum", src: withHash(file("f", 10, T), "ab"), dst: withHash(file("f", 9, T), "ab"),
    opts: { checksum: true }, same: false, reason: /size differs/ },
];

for (const row of rows) {
  test(`compare: ${row.title}`, () => {
    const got = compare(row.src, row.dst, row.opts);
    assert.equal(got.same, row.same, got.reason);
    assert.match(got.reason, row.reason);
  });
}
