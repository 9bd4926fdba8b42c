import { test } from "node:test";
import assert from "node:assert/strict";
import {
  FtpConnectionError, FtpReplyError, FtpTimeoutError, FtpUsageError, FtpUrlError, ProtocolError, choosePassiveHost,
  isConnectionFatal, isRetriable, parseFeatures, parseFtpUrl, redactUrl, type FtpUrl,
} from "../../src/client/index.js";

const urlRows: { title: string; input: string; expected: FtpUrl }[] = [
  { title: "plain ftp, default port, relative path", input: "ftp://h.example/a/b.txt", expected: { secure: "none", host: "h.example", port: 21, path: "a/b.txt" } },
  { title: "credentials are percent-decoded", input: "ftp://us%40er:p%3Ass%2Fw@h:2121/x", expected: { secure: "none", host: "h", port: 2121, user: "us@er", password: "p:ss/w", path: "x" } },
  { title: "ftpes: explicit TLS on 21", input: "ftpes://edge@files.example/", expected: { secure: "explicit", host: "files.example", port: 21, user: "edge", path: "." } },
  { title: "ftps: implicit TLS on 990", input: "ftps://files.example/in", expected: { secure: "implicit", host: "files.example", port: 990, path: "in" } },
  { title: "absolute path with a second slash", input: "ftp://h//srv/data", expected: { secure: "none", host: "h", port: 21, path: "/srv/data" } },
  { title: "absolute path with %2F", input: "ftp://h/%2Fsrv/data", expected: { secure: "none", host: "h", port: 21, path: "/srv/data" } },
  { title: "spaces and UTF-8 in the path", input: "ftp://h/my%20dir/%C3%BC.txt", expected: { secure: "none", host: "h", port: 21, path: "my dir/ü.txt" } },
  { title: "IPv6 host", input: "ftp://[::1]:2121/x", expected: { secure: "none", host: "::1", port: 2121, path: "x" } },
  { title: "no path", input: "ftp://h", expected: { secure: "none", host: "h", port: 21, path: "." } },
];
for (const row of urlRows) test(`parseFtpUrl: ${row.title}`, () => assert.deepEqual(parseFtpUrl(row.input), row.expected));

const badUrls = [
  { input: "http://h/x", message: /unsupported scheme "http"/ },
  { input: "not a url", message: /is not a URL/ },
  { input: "ftp://h/a%zz", message: /broken %-escape/ },
  { input: "ftp://h/a?b", message: /%3F/ },
  { input: "ftp://u:topsecret@h/%00", message: /NUL/ },
];
for (const row of badUrls) {
  test(`parseFtpUrl refuses ${row.input}`, () => {
    assert.throws(() => parseFtpUrl(row.input), (e: unknown) => e instanceof FtpUrlError && row.message.test(e.message) && !e.message.includes("topsecret"));
  });
}

test("redactUrl hides the password", () => {
  assert.equal(redactUrl("ftp://u:secret@h/x"), "ftp://u:****@h/x");
  assert.equal(redactUrl("ftp://u@h/x"), "ftp://u@h/x");
});

const retryRows: { title: string; err: unknown; retriable: boolean; fatal: boolean }[] = [
  { title: "421 closing", err: new FtpReplyError(421, "bye"), retriable: true, fatal: true },
  { title: "425 no data connection", err: new FtpReplyError(425, "x"), retriable: true, fatal: false },
  { title: "426 aborted", err: new FtpReplyError(426, "x"), retriable: true, fatal: false },
  { title: "450 busy", err: new FtpReplyError(450, "x"), retriable: true, fatal: false },
  { title: "451 local error", err: new FtpReplyError(451, "x"), retriable: true, fatal: false },
  { title: "452 storage", err: new FtpReplyError(452, "x"), retriable: true, fatal: false },
  { title: "550 not found", err: new FtpReplyError(550, "x"), retriable: false, fatal: false },
  { title: "530 login", err: new FtpReplyError(530, "x"), retriable: false, fatal: false },
  { title: "timeout", err: new FtpTimeoutError("x"), retriable: true, fatal: true },
  { title: "connection", err: new FtpConnectionError("x"), retriable: true, fatal: true },
  { title: "raw ECONNRESET", err: Object.assign(new Error("reset"), { code: "ECONNRESET" }), retriable: true, fatal: true },
  { title: "protocol violation", err: new ProtocolError("x"), retriable: false, fatal: false },
  { title: "usage error", err: new FtpUsageError("x"), retriable: false, fatal: false },
  { title: "abort", err: new DOMException("x", "AbortError"), retriable: false, fatal: false },
  { title: "not an error", err: "boom", retriable: false, fatal: false },
];
for (const row of retryRows) {
  test(`isRetriable/isConnectionFatal: ${row.title}`, () => {
    assert.equal(isRetriable(row.err), row.retriable);
    assert.equal(isConnectionFatal(row.err), row.fatal);
  });
}

const pasvRows = [
  { title: "same as control", advertised: "127.0.0.1", control: "127.0.0.1", expected: "127.0.0.1" },
  { title: "private behind NAT: use the control host", advertised: "10.0.0.5", control: "203.0.113.7", expected: "203.0.113.7" },
  { title: "0.0.0.0: use the control host", advertised: "0.0.0.0", control: "203.0.113.7", expected: "203.0.113.7" },
  { title: "IPv4-mapped control host", advertised: "192.168.1.2", control: "::ffff:127.0.0.1", expected: "127.0.0.1" },
];
for (const row of pasvRows) test(`choosePassiveHost: ${row.title}`, () => assert.equal(choosePassiveHost(row.advertised, row.control), row.expected));
test("choosePassiveHost refuses a foreign public address (bounce)", () => {
  assert.throws(() => choosePassiveHost("198.51.100.9", "203.0.113.7"), /bounce/);
});

const featRows = [
  {
    title: "vsftpd 3.0.3",
    lines: ["Features:", " EPRT", " EPSV", " MDTM", " PASV", " REST STREAM", " SIZE", " TVFS", "End"],
    expected: { mlst: false, mfmt: false, size: true, mdtm: true, rest: true, utf8: false, epsv: true, hash: [], legacyHash: [] },
  },
  {
    title: "pure-ftpd 1.0.50 (no leading spaces)",
    lines: ["Extensions supported:", "UTF8", "EPRT", "IDLE", "MDTM", "SIZE", "MFMT", "REST STREAM", "MLST type*;size*;modify*;", "MLSD", "EPSV", "End."],
    expected: { mlst: true, mfmt: true, size: true, mdtm: true, rest: true, utf8: true, epsv: true, hash: [], legacyHash: [] },
  },
  {
    title: "HASH with selection and legacy commands",
    lines: ["Features:", " HASH CRC32;MD5;SHA-1*;SHA-256", " XCRC", " XSHA256", " XMD5", "End"],
    expected: { mlst: false, mfmt: false, size: false, mdtm: false, rest: false, utf8: false, epsv: false, hash: ["SHA-256", "SHA-1", "MD5", "CRC32"], legacyHash: ["SHA-256", "MD5", "CRC32"] },
  },
];
for (const row of featRows) {
  test(`parseFeatures: ${row.title}`, () => {
    const { raw, hashSelected, ...caps } = parseFeatures({ code: 211, lines: row.lines });
    assert.deepEqual(caps, row.expected);
    assert.ok(raw.size >= 3);
    if (row.title.startsWith("HASH")) assert.equal(hashSelected, "SHA-1");
  });
}
test("parseFeatures: a refusal means no features", () => {
  assert.equal(parseFeatures({ code: 500, lines: ["Unknown"] }).raw.size, 0);
});
