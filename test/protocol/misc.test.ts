import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  formatTimeVal, parseTimeVal, parseHashAlgorithm, parseHashFeature, formatHashFeature,
  resolveRemotePath, assertSafeName, unsafeNameReason, ProtocolError,
} from "../../src/protocol/index.js";

describe("time-val", () => {
  it("formats whole seconds without a fraction", () => assert.equal(formatTimeVal(new Date(Date.UTC(2024, 1, 11, 10, 15, 30))), "20240211101530"));
  it("formats milliseconds", () => assert.equal(formatTimeVal(new Date(Date.UTC(2024, 1, 11, 10, 15, 30, 7))), "20240211101530.007"));
  const rows = [
    ["20240211101530", Date.UTC(2024, 1, 11, 10, 15, 30)],
    ["20240211101530.5", Date.UTC(2024, 1, 11, 10, 15, 30, 500)],
    ["20240211101530.123456", Date.UTC(2024, 1, 11, 10, 15, 30, 123)],
  ] as const;
  for (const [text, ms] of rows) it(`parses ${text}`, () => assert.equal(parseTimeVal(text).getTime(), ms));
  for (const bad of ["2024021110153", "20241340101530", "20240230101530", "20240211251530", "yesterday"]) {
    it(`refuses ${bad}`, () => assert.throws(() => parseTimeVal(bad), ProtocolError));
  }
});

describe("hash names", () => {
  const rows = [["sha-256", "SHA-256"], ["SHA256", "SHA-256"], ["sha1", "SHA-1"], ["md5", "MD5"], ["crc32", "CRC32"], ["sha-512", undefined]] as const;
  for (const [name, expected] of rows) it(name, () => assert.equal(parseHashAlgorithm(name), expected));
  it("parses the FEAT line with the selected one starred", () => {
    assert.deepEqual(parseHashFeature("SHA-1;SHA-256*;MD5;CRC32;SHA-512"), { offered: ["SHA-1", "SHA-256", "MD5", "CRC32"], selected: "SHA-256" });
  });
  it("formats the FEAT line", () => assert.equal(formatHashFeature("MD5"), "SHA-256;SHA-1;MD5*;CRC32"));
});

describe("resolveRemotePath", () => {
  const rows = [
    ["/", "a", "/a"],
    ["/a/b", "../c", "/a/c"],
    ["/a", "../../../etc/passwd", "/etc/passwd"],
    ["/a", "/x//y/./z/", "/x/y/z"],
    ["/a", "", "/a"],
    ["/", "..", "/"],
  ] as const;
  for (const [cwd, path, expected] of rows) it(`${cwd} + ${path}`, () => assert.equal(resolveRemotePath(cwd, path), expected));
});

describe("assertSafeName", () => {
  for (const ok of ["a.txt", "with space", "ünïcødé", "..hidden", "a..b"]) it(`accepts ${ok}`, () => assert.equal(assertSafeName(ok), ok));
  for (const bad of ["", ".", "..", "a/b", "../x", "a\\b", "a\0b", "a\nb", "a\rb", "a\x7fb"]) {
    it(`refuses ${JSON.stringify(bad)}`, () => {
      assert.ok(unsafeNameReason(bad));
      assert.throws(() => assertSafeName(bad), ProtocolError);
    });
  }
});
