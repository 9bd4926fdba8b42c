import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseCommandLine, formatCommand, mask, ProtocolError } from "../../src/protocol/index.js";

describe("parseCommandLine", () => {
  const rows = [
    { input: "USER alice", verb: "USER", arg: "alice" },
    { input: "retr  two  spaces.txt ", verb: "RETR", arg: " two  spaces.txt " },
    { input: "PWD", verb: "PWD", arg: "" },
    { input: "\xff\xf4\xff\xf2ABOR", verb: "ABOR", arg: "" },
    { input: "  noop", verb: "NOOP", arg: "" },
  ];
  for (const row of rows) {
    it(JSON.stringify(row.input), () => assert.deepEqual(parseCommandLine(row.input), { verb: row.verb, arg: row.arg }));
  }
});

describe("formatCommand", () => {
  it("joins verb and argument with CRLF", () => assert.equal(formatCommand("STOR", "a b.txt"), "STOR a b.txt\r\n"));
  it("omits an empty argument", () => assert.equal(formatCommand("PWD"), "PWD\r\n"));
  for (const bad of ["a\r\nDELE x", "a\nb", "a\0b"]) {
    it(`refuses ${JSON.stringify(bad)}`, () => assert.throws(() => formatCommand("RETR", bad), ProtocolError));
  }
  it("never puts a password in its error", () => {
    assert.throws(() => formatCommand("PASS", "se\ncret"), (e: Error) => e.message.includes("PASS ****") && !e.message.includes("cret"));
  });
});

describe("mask", () => {
  const rows = [
    ["PASS hunter2", "PASS ****"],
    ["pass hunter2", "pass ****"],
    ["ACCT secret", "ACCT ****"],
    ["USER bob", "USER bob"],
    ["PASSIVE", "PASSIVE"],
  ];
  for (const [input, expected] of rows) it(String(input), () => assert.equal(mask(String(input)), expected));
});
