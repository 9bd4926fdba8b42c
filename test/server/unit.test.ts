import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import {
  Authenticator, AuthenticationFailed, COMMANDS, FileSystem, PathError, crc32, crc32Table, hashPassword, parsePasswordHash,
  verifyPassword, type VirtualPath,
} from "../../src/server/index.js";
import { fromNetworkAscii, toNetworkAscii } from "../../src/server/ascii.js";
import { parseListArg } from "../../src/server/commands/listing.js";
import { decodeLine } from "../../src/server/decodeLine.js";
import { pseudoRandomBytes, tempDir } from "../helpers/tmp.js";
import { startFerryServer, type RunningFerryServer } from "../helpers/ferryServer.js";
import { RawClient } from "./rawClient.js";

describe("crc32", () => {
  const rows = [
    { input: "", expected: 0 },
    { input: "123456789", expected: 0xcbf43926 }, // the CRC-32 check value
    { input: "hello\n", expected: 0x363a3020 },
  ];
  for (const r of rows) {
    it(`table and native agree on ${JSON.stringify(r.input)}`, () => {
      assert.equal(crc32Table(Buffer.from(r.input)), r.expected);
      assert.equal(crc32(Buffer.from(r.input)), r.expected);
    });
  }
  it("continues across chunks", () => {
    const data = pseudoRandomBytes(100_000, 3);
    const whole = crc32Table(data);
    assert.equal(crc32Table(data.subarray(50_000), crc32Table(data.subarray(0, 50_000))), whole);
    assert.equal(crc32(data), whole);
  });
});

describe("FileSystem confinement", () => {
  let base: { path: string; remove: () => Promise<void> };
  let fs: FileSystem;
  before(async () => {
    base = await tempDir();
    await mkdir(join(base.path, "root", "a", "b"), { recursive: true });
    await mkdir(join(base.path, "out"));
    await writeFile(join(base.path, "out", "secret"), "s");
    await symlink(join(base.path, "out"), join(base.path, "root", "a", "escape"));
    await symlink("b", join(base.path, "root", "a", "inner"));
    fs = await FileSystem.open(join(base.path, "root"));
  });
  after(async () => base.remove());

  const resolveRows: Array<{ cwd: string; arg: string; expected: string }> = [
    { cwd: "/", arg: "a/b", expected: "/a/b" },
    { cwd: "/a", arg: "..", expected: "/" },
    { cwd: "/a", arg: "../../..", expected: "/" },
    { cwd: "/a/b", arg: "/x/../y", expected: "/y" },
    { cwd: "/", arg: "/etc/passwd", expected: "/etc/passwd" },
    { cwd: "/a", arg: "./b/.//", expected: "/a/b" },
    { cwd: "/", arg: "..\\..", expected: "/..\\.." },
  ];
  for (const r of resolveRows) {
    it(`resolve(${r.cwd}, ${JSON.stringify(r.arg)}) = ${r.expected}`, () => {
      assert.equal(fs.resolve(r.cwd as VirtualPath, r.arg), r.expected);
    });
  }

  for (const bad of ["a\0b", "a\rb", "a\nb", "\n"]) {
    it(`refuses ${JSON.stringify(bad)}`, () => assert.throws(() => fs.resolve("/" as VirtualPath, bad), PathError));
  }

  const useRows: Array<{ path: string; ok: boolean }> = [
    { path: "/a/b", ok: true },
    { path: "/a/inner", ok: true },
    { path: "/a/escape", ok: false },
    { path: "/a/escape/secret", ok: false },
    { path: "/", ok: true },
  ];
  for (const r of useRows) {
    it(`existing(${r.path}) ${r.ok ? "is inside" : "is refused"}`, async () => {
      if (r.ok) assert.ok(fs.contains(await fs.existing(r.path as VirtualPath)));
      else await assert.rejects(fs.existing(r.path as VirtualPath), PathError);
    });
  }

  it("contains() is not fooled by a shared prefix", () => {
    assert.equal(fs.contains(fs.root + "-sibling/x"), false);
    assert.equal(fs.contains(fs.root + "/x"), true);
  });
});

describe("ASCII line-end conversion", () => {
  const rows = [
    { title: "LF to CRLF", dir: "out" as const, input: ["a\nb\n"], expected: "a\r\nb\r\n" },
    { title: "existing CRLF kept", dir: "out" as const, input: ["a\r\nb"], expected: "a\r\nb" },
    { title: "CR split from LF across chunks", dir: "out" as const, input: ["a\r", "\nb"], expected: "a\r\nb" },
    { title: "CRLF to LF", dir: "in" as const, input: ["a\r\nb\r\n"], expected: "a\nb\n" },
    { title: "CRLF split across chunks", dir: "in" as const, input: ["a\r", "\nb"], expected: "a\nb" },
    { title: "lone CR kept", dir: "in" as const, input: ["a\rb\r"], expected: "a\rb\r" },
  ];
  for (const r of rows) {
    it(r.title, async () => {
      const t = r.dir === "out" ? toNetworkAscii() : fromNetworkAscii();
      const out = await buffer(Readable.from(r.input.map((s) => Buffer.from(s))).pipe(t));
      assert.equal(out.toString(), r.expected);
    });
  }
});

describe("parseListArg", () => {
  const rows = [
    { arg: "", expected: { showHidden: false, path: "" } },
    { arg: "-la", expected: { showHidden: true, path: "" } },
    { arg: "-l /dir", expected: { showHidden: false, path: "/dir" } },
    { arg: "-a -l sub dir", expected: { showHidden: true, path: "sub dir" } },
    { arg: "name", expected: { showHidden: false, path: "name" } },
  ];
  for (const r of rows) it(JSON.stringify(r.arg), () => assert.deepEqual(parseListArg(r.arg), r.expected));
});

describe("password hashes", () => {
  it("hash-password output verifies, and a wrong password does not", async () => {
    const h = await hashPassword("s3cret", { N: 1024, r: 8, p: 1 });
    assert.match(h, /^scrypt\$1024\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    assert.equal(await verifyPassword("s3cret", h), true);
    assert.equal(await verifyPassword("s3cret!", h), false);
  });
  for (const bad of ["plain", "scrypt$1000$8$1$c2FsdHNhbHQ=$aGFzaGhhc2hoYXNoaGFzaA==", "bcrypt$x"]) {
    it(`rejects malformed ${JSON.stringify(bad)}`, () => assert.throws(() => parsePasswordHash(bad), /scrypt|hash-password/));
  }
  it("Authenticator: users, anonymous and perms", async () => {
    const auth = await Authenticator.create({ root: "/srv", anonymous: "ro", users: [{ name: "u", password: "p" }, { name: "r", password: "p", readOnly: true, root: "/r" }] });
    const u = await auth.verify("u", "p");
    assert.deepEqual([u.root, u.readOnly, auth.can(u, "delete")], ["/srv", false, true]);
    const r = await auth.verify("r", "p");
    assert.deepEqual([r.root, auth.can(r, "read"), auth.can(r, "create")], ["/r", true, false]);
    const a = await auth.verify("anonymous", "x@y");
    assert.deepEqual([a.anonymous, a.readOnly], [true, true]);
    await assert.rejects(auth.verify("u", "wrong"), AuthenticationFailed);
    await assert.rejects(auth.verify("u", "p "), AuthenticationFailed);
    await assert.rejects(auth.verify("u", ""), AuthenticationFailed);
    await assert.rejects(auth.verify("ghost", "p"), AuthenticationFailed);
  });
  it("Authenticator: hashed and plain users side by side; unknown users fail either way", async () => {
    const hash = await hashPassword("h4sh", { N: 1024, r: 8, p: 1 });
    const auth = await Authenticator.create({ root: "/srv", users: [{ name: "h", passwordHash: hash }, { name: "p", password: "pl4in" }] });
    assert.equal((await auth.verify("h", "h4sh")).name, "h");
    assert.equal((await auth.verify("p", "pl4in")).name, "p");
    await assert.rejects(auth.verify("h", "pl4in"), AuthenticationFailed);
    await assert.rejects(auth.verify("p", "h4sh"), AuthenticationFailed);
    await assert.rejects(auth.verify("ghost", "h4sh"), AuthenticationFailed);
    await assert.rejects(auth.verify("anonymous", "x"), AuthenticationFailed, "anonymous is off unless asked for");
  });
});

describe("command table and preProcess", () => {
  let srv: RunningFerryServer;
  before(async () => (srv = await startFerryServer()));
  after(async () => srv.close());

  it("every spec has help text and a unique verb", () => {
    for (const [verb, spec] of COMMANDS) {
      assert.equal(verb, spec.verb);
      assert.ok(spec.help.startsWith(verb), `${verb} help starts with the verb`);
    }
  });

  const rows: Array<{ line: string; loggedIn: boolean; code: number }> = [
    { line: "BOGUS", loggedIn: false, code: 500 },
    { line: "LIST", loggedIn: false, code: 530 },
    { line: "SYST", loggedIn: false, code: 215 },
    { line: "FEAT", loggedIn: false, code: 211 },
    { line: "FEAT x", loggedIn: false, code: 501 },
    { line: "HELP", loggedIn: false, code: 214 },
    { line: "HELP RETR", loggedIn: false, code: 214 },
    { line: "HELP NOPE", loggedIn: false, code: 502 },
    { line: "ACCT x", loggedIn: false, code: 502 },
    { line: "REIN", loggedIn: true, code: 502 },
    { line: "RETR", loggedIn: true, code: 501 },
    { line: "CDUP x", loggedIn: true, code: 501 },
    { line: "PWD", loggedIn: true, code: 257 },
    { line: "TYPE X", loggedIn: true, code: 504 },
    { line: "TYPE L 8", loggedIn: true, code: 200 },
    { line: "MODE B", loggedIn: true, code: 504 },
    { line: "STRU R", loggedIn: true, code: 504 },
    { line: "MODE S", loggedIn: true, code: 200 },
    { line: "STRU F", loggedIn: true, code: 200 },
    { line: "ALLO 100", loggedIn: true, code: 202 },
    { line: "REST abc", loggedIn: true, code: 501 },
    { line: "REST 10", loggedIn: true, code: 350 },
    { line: "RNTO x", loggedIn: true, code: 503 },
    { line: "ABOR", loggedIn: true, code: 225 },
    { line: "OPTS UTF8 ON", loggedIn: false, code: 200 },
    { line: "OPTS HASH MD5", loggedIn: true, code: 200 },
    { line: "OPTS HASH WHIRLPOOL", loggedIn: true, code: 504 },
    { line: "OPTS MLST type;size;", loggedIn: true, code: 200 },
    { line: "OPTS FOO", loggedIn: true, code: 501 },
    { line: "SITE HELP", loggedIn: true, code: 214 },
    { line: "SITE EXEC ls", loggedIn: true, code: 504 },
    { line: "SITE CHMOD 99 x", loggedIn: true, code: 501 },
    { line: "MFMT notatime x", loggedIn: true, code: 501 },
    { line: "STAT", loggedIn: false, code: 211 },
    { line: "NOOP", loggedIn: false, code: 200 },
    { line: "xpwd", loggedIn: true, code: 257 },
    { line: "STOR x", loggedIn: true, code: 425 },
  ];
  for (const r of rows) {
    it(`${r.loggedIn ? "logged in" : "anonymous"}: ${r.line} -> ${r.code}`, async () => {
      const client = r.loggedIn ? await RawClient.login(srv.port) : (await RawClient.connect(srv.port)).client;
      try {
        assert.equal((await client.send(r.line))?.code, r.code);
      } finally {
        client.close();
      }
    });
  }

  it("STOU creates a unique file and names it in the 150 reply", async () => {
    const client = await RawClient.login(srv.port);
    const port = await client.pasv();
    const { connect } = await import("node:net");
    const data = connect({ host: "127.0.0.1", port });
    await new Promise((r) => data.once("connect", r));
    const pre = await client.send("STOU");
    const name = /FILE: (\S+)/.exec(pre?.lines[0] ?? "")?.[1];
    assert.ok(name, pre?.lines[0]);
    data.end("unique");
    assert.equal((await client.next())?.code, 226);
    const { readFile } = await import("node:fs/promises");
    assert.equal(await readFile(join(srv.root, name), "utf8"), "unique");
    client.close();
  });

  it("MDTM with two arguments sets the time (vsftpd style); one argument reads it", async () => {
    const { writeFile, stat } = await import("node:fs/promises");
    await writeFile(join(srv.root, "t.txt"), "t");
    const client = await RawClient.login(srv.port);
    assert.equal((await client.send("MDTM 20210203040506 t.txt"))?.code, 213);
    assert.equal((await stat(join(srv.root, "t.txt"))).mtime.toISOString(), "2021-02-03T04:05:06.000Z");
    assert.deepEqual((await client.send("MDTM t.txt"))?.lines, ["20210203040506"]);
    client.close();
  });

  it("STAT during a transfer reports it; SIZE after", async () => {
    const { writeFile } = await import("node:fs/promises");
    await writeFile(join(srv.root, "big.bin"), pseudoRandomBytes(4 << 20, 8));
    const client = await RawClient.login(srv.port);
    const port = await client.pasv();
    const { connect } = await import("node:net");
    const data = connect({ host: "127.0.0.1", port });
    await new Promise((r) => data.once("connect", r));
    data.pause();
    assert.ok([125, 150].includes((await client.send("RETR big.bin"))?.code ?? 0));
    const st = await client.send("STAT");
    assert.equal(st?.code, 211);
    assert.match(st?.lines.join("\n") ?? "", /RETR \/big\.bin in progress/);
    data.resume();
    data.on("data", () => undefined);
    assert.equal((await client.next())?.code, 226);
    assert.deepEqual((await client.send("SIZE big.bin"))?.lines, [String(4 << 20)]);
    client.close();
  });
});

describe("decodeLine", () => {
  const rows: Array<{ title: string; input: number[] | string; expected: string }> = [
    { title: "plain line with CR", input: "NOOP\r", expected: "NOOP" },
    { title: "Telnet IP/DM before ABOR", input: [0xff, 0xf4, 0xff, 0xf2, ...Buffer.from("ABOR\r")], expected: "ABOR" },
    { title: "DM lost as urgent data", input: [0xff, 0xf4, 0xff, ...Buffer.from("ABOR")], expected: "ABOR" },
    { title: "UTF-8 argument kept", input: "STOR über ☃.txt\r", expected: "STOR über ☃.txt" },
    { title: "leading garbage dropped", input: "\x00\x01 LIST", expected: "LIST" },
    { title: "inner CR kept (the path check refuses it)", input: "MKD a\rb\r", expected: "MKD a\rb" },
  ];
  for (const r of rows) {
    it(r.title, () => assert.equal(decodeLine(Buffer.from(r.input as never)), r.expected));
  }
});

describe("passive port range and advertised address", () => {
  it("PASV advertises --pasv-address and a port from the range; EPSV uses the range too", async () => {
    const { createServer } = await import("node:net");
    // find three consecutive free ports (bounded tries)
    let lo = 0;
    for (let attempt = 0; attempt < 20 && lo === 0; attempt++) {
      const probe = createServer();
      await new Promise<void>((r) => probe.listen(0, "127.0.0.1", () => r()));
      const p = (probe.address() as { port: number }).port;
      probe.close();
      if (p > 1024 && p < 65000) lo = p;
    }
    const srv = await startFerryServer({ pasvPorts: [lo, lo + 2], pasvAddress: "10.1.2.3" });
    const client = await RawClient.login(srv.port);
    try {
      for (let i = 0; i < 3; i++) {
        const r = await client.send("PASV");
        assert.equal(r?.code, 227);
        const m = /\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)/.exec(r?.lines[0] ?? "");
        assert.deepEqual(m?.slice(1, 5), ["10", "1", "2", "3"]);
        const port = Number(m?.[5]) * 256 + Number(m?.[6]);
        assert.ok(port >= lo && port <= lo + 2, `port ${port} in ${lo}-${lo + 2}`);
        const e = await client.send("EPSV");
        const eport = Number(/\|\|\|(\d+)\|/.exec(e?.lines[0] ?? "")?.[1]);
        assert.ok(eport >= lo && eport <= lo + 2, `EPSV port ${eport} in range`);
      }
    } finally {
      client.close();
      await srv.close();
    }
  });
});
