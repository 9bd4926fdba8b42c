import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  parseHostPortNumbers, formatHostPortNumbers, parsePasvReply, formatPasvReply, parseEpsvReply, formatEpsvReply,
  parseEprtArg, formatEprtArg, isPrivateAddress, sameAddress, ProtocolError,
} from "../../src/protocol/index.js";

describe("PORT/PASV numbers", () => {
  it("decodes", () => assert.deepEqual(parseHostPortNumbers("127,0,0,1,4,1"), { host: "127.0.0.1", port: 1025 }));
  it("encodes", () => assert.equal(formatHostPortNumbers({ host: "10.1.2.3", port: 65535 }), "10,1,2,3,255,255"));
  for (const bad of ["1,2,3,4,5", "1,2,3,4,5,6,7", "256,0,0,1,1,1", "a,b,c,d,e,f", "1,2,3,4,0,0", "-1,2,3,4,5,6"]) {
    it(`refuses ${bad}`, () => assert.throws(() => parseHostPortNumbers(bad), ProtocolError));
  }
  it("refuses IPv6 for PORT", () => assert.throws(() => formatHostPortNumbers({ host: "::1", port: 21 }), ProtocolError));
});

describe("PASV reply", () => {
  const rows = [
    ["Entering Passive Mode (192,168,1,2,19,137).", { host: "192.168.1.2", port: 5001 }],
    ["Entering Passive Mode 127,0,0,1,200,10", { host: "127.0.0.1", port: 51210 }],
    ["=127,0,0,1,0,21", { host: "127.0.0.1", port: 21 }],
  ] as const;
  for (const [text, expected] of rows) it(text, () => assert.deepEqual(parsePasvReply(text), expected));
  it("round-trips", () => assert.deepEqual(parsePasvReply(formatPasvReply({ host: "1.2.3.4", port: 4242 })), { host: "1.2.3.4", port: 4242 }));
  it("refuses text without an address", () => assert.throws(() => parsePasvReply("Entering Passive Mode"), ProtocolError));
});

describe("EPSV reply", () => {
  it("parses |||port|", () => assert.equal(parseEpsvReply("Entering Extended Passive Mode (|||6446|)"), 6446));
  it("parses another delimiter", () => assert.equal(parseEpsvReply("(!!!6446!)"), 6446));
  it("round-trips", () => assert.equal(parseEpsvReply(formatEpsvReply(40000)), 40000));
  it("refuses a port out of range", () => assert.throws(() => parseEpsvReply("(|||70000|)"), ProtocolError));
  it("refuses mixed delimiters", () => assert.throws(() => parseEpsvReply("(|!|6446|)"), ProtocolError));
});

describe("EPRT argument", () => {
  const rows = [
    ["|1|132.235.1.2|6275|", { family: 4, host: "132.235.1.2", port: 6275 }],
    ["|2|::1|5282|", { family: 6, host: "::1", port: 5282 }],
    ["!2!1080::8:800:200C:417A!5282!", { family: 6, host: "1080::8:800:200C:417A", port: 5282 }],
  ] as const;
  for (const [arg, expected] of rows) it(arg, () => assert.deepEqual(parseEprtArg(arg), expected));
  for (const bad of ["|3|1.2.3.4|21|", "|1|::1|21|", "|2|1.2.3.4|21|", "|1|1.2.3.4|0|", "|1|1.2.3.4|99999|", "1|1.2.3.4|21", "|1|1.2.3.4|21|x|"]) {
    it(`refuses ${bad}`, () => assert.throws(() => parseEprtArg(bad), ProtocolError));
  }
  it("formats v4 and v6", () => {
    assert.equal(formatEprtArg({ host: "127.0.0.1", port: 2000 }), "|1|127.0.0.1|2000|");
    assert.equal(formatEprtArg({ host: "::1", port: 2000 }), "|2|::1|2000|");
  });
});

describe("address predicates", () => {
  const priv = ["10.0.0.1", "172.16.5.4", "172.31.255.255", "192.168.0.1", "127.0.0.1", "169.254.1.1", "100.64.0.1", "::1", "fe80::1", "fd00::1", "::ffff:192.168.1.1"];
  const pub = ["8.8.8.8", "172.32.0.1", "100.128.0.1", "2001:db8::1", "::ffff:8.8.8.8"];
  for (const a of priv) it(`${a} is private`, () => assert.equal(isPrivateAddress(a), true));
  for (const a of pub) it(`${a} is public`, () => assert.equal(isPrivateAddress(a), false));
  it("compares IPv4-mapped addresses", () => {
    assert.equal(sameAddress("::ffff:127.0.0.1", "127.0.0.1"), true);
    assert.equal(sameAddress("127.0.0.2", "127.0.0.1"), false);
  });
});
