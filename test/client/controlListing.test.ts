// Listings over the control connection against scripted servers: when the client lists with
// STAT, when it falls back to MLSD/LIST over a data connection, and what it remembers.
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { FtpClient, FtpReplyError, FtpTimeoutError } from "../../src/client/index.js";
import { chooseControlListing, statArgument } from "../../src/client/controlListing.js";
import { parseFeatures } from "../../src/client/features.js";
import { LISTING_DEFAULTS, ListingLimitError } from "../../src/protocol/index.js";
import { startFakeFtpServer, sendData, type FakeHandler, type FakeServer, type FakeServerOptions } from "../helpers/fakeFtpServer.js";

const LINE = (name: string, type: "-" | "d" = "-"): string => `${type}rw-r--r--    1 1001     0               5 Jan 02  2020 ${name}`;
const DOTS = [LINE(".", "d"), LINE("..", "d")];
/** A 213 STAT listing as vsftpd sends it. */
const statReply = (lines: string[]): string => `213-Status follows:\r\n${lines.map((l) => `${l}\r\n`).join("")}213 End of status\r\n`;
/** The LIST -a data listing of every folder: one file "over-data.txt". */
const listOverData: FakeHandler = (_a, s) => sendData(s, `${LINE("over-data.txt")}\r\n`);

async function serve(t: TestContext, options: FakeServerOptions): Promise<FakeServer> {
  const server = await startFakeFtpServer(options);
  t.after(() => server.close());
  return server;
}

async function client(t: TestContext, server: FakeServer, dataTimeoutMs = 5000): Promise<FtpClient> {
  const c = await FtpClient.connect({ host: "127.0.0.1", port: server.port, user: "u", password: "p", commandTimeoutMs: 5000, dataTimeoutMs });
  t.after(() => c.close());
  return c;
}

/** Commands after login, without session set-up. */
const sent = (server: FakeServer): string[] => server.commands.filter((c) => !/^(USER|PASS|FEAT|OPTS|TYPE)\b/.test(c));
const names = (entries: { name: string }[]): string[] => entries.map((e) => e.name);

test("chooseControlListing: ferry's STAT MLSD first, MLSD over data before a LIST-format STAT, STAT -a without MLSD", () => {
  const feat = (...lines: string[]) => parseFeatures({ code: 211, lines: ["Features:", ...lines.map((l) => ` ${l}`), "End"] });
  assert.equal(chooseControlListing(feat("MLST type*;modify*;", "STAT MLSD")), "STAT -M");
  assert.equal(chooseControlListing(feat("MLST type*;modify*;", "MLSD")), undefined);
  assert.equal(chooseControlListing(feat("EPSV", "SIZE")), "STAT -a");
});

test("statArgument: the login folder is '.', a folder named like an option gets ./, white space at either end is not sent", () => {
  assert.equal(statArgument(undefined), ".");
  assert.equal(statArgument(""), ".");
  assert.equal(statArgument("-a"), "./-a");
  assert.equal(statArgument("/pub/-a"), "/pub/-a");
  assert.equal(statArgument("dir with space"), "dir with space");
  assert.equal(statArgument(" lead"), undefined);
  assert.equal(statArgument("trail "), undefined);
});

test("a server without MLSD that lists over STAT: one STAT per folder, no data connection; empty folder, spaces, -a, a file", async (t) => {
  const server = await serve(t, {
    handlers: {
      STAT: (arg, s) => {
        const path = arg.replace(/^-a /, "");
        const body: Record<string, string[]> = {
          ".": [...DOTS, LINE("a.txt"), LINE("dir with space", "d"), LINE("-a", "d")],
          "dir with space": [...DOTS, LINE("x y.txt")],
          "./-a": [...DOTS, LINE("inner")],
          empty: DOTS,
          "a.txt": [LINE("a.txt")],
        };
        s.write(statReply(body[path] ?? []));
      },
      LIST: listOverData,
    },
  });
  const c = await client(t, server);
  assert.equal(c.controlListing, "STAT -a");
  assert.deepEqual(names(await c.list("", { preferControl: true })), ["a.txt", "dir with space", "-a"]);
  assert.deepEqual(names(await c.list("dir with space", { preferControl: true })), ["x y.txt"]);
  assert.deepEqual(names(await c.list("-a", { preferControl: true })), ["inner"]);
  assert.deepEqual(await c.list("empty", { preferControl: true }), []);
  assert.deepEqual(names(await c.list("a.txt", { preferControl: true })), ["a.txt"]);
  assert.deepEqual(sent(server), ["STAT -a .", "STAT -a dir with space", "STAT -a ./-a", "STAT -a empty", "STAT -a a.txt"]);
  // Without preferControl (ferry ls streams big folders) the data connection is used as before.
  assert.deepEqual(names(await c.list("dir with space")), ["over-data.txt"]);
  assert.equal(c.controlListing, "STAT -a");
});

for (const code of [500, 502, 504, 501]) {
  test(`STAT answered ${code}: the data listing, and STAT is not sent again`, async (t) => {
    const server = await serve(t, { handlers: { STAT: (_a, s) => s.reply(code, "not here"), LIST: listOverData } });
    const c = await client(t, server);
    assert.deepEqual(names(await c.list("d1", { preferControl: true })), ["over-data.txt"]);
    assert.deepEqual(names(await c.list("d2", { preferControl: true })), ["over-data.txt"]);
    assert.deepEqual(sent(server).filter((x) => /^(STAT|LIST)/.test(x)), ["STAT -a d1", "LIST -a d1", "LIST -a d2"]);
    assert.equal(c.controlListing, undefined);
  });
}

test("STAT refused with 550 for a folder that lists over data (vsftpd cmds_denied=STAT): remembered", async (t) => {
  const server = await serve(t, { handlers: { STAT: (_a, s) => s.reply(550, "Permission denied."), LIST: listOverData } });
  const c = await client(t, server);
  assert.deepEqual(names(await c.list("d1", { preferControl: true })), ["over-data.txt"]);
  await c.list("d2", { preferControl: true });
  assert.deepEqual(sent(server).filter((x) => /^(STAT|LIST)/.test(x)), ["STAT -a d1", "LIST -a d1", "LIST -a d2"]);
});

test("STAT 550 for a missing folder: the data listing's error is the answer, and STAT stays in use", async (t) => {
  const server = await serve(t, {
    handlers: {
      STAT: (arg, s) => (arg.endsWith("gone") ? s.reply(550, "No such file or directory") : s.write(statReply([...DOTS, LINE("f")]))),
      LIST: (arg, s) => (arg.endsWith("gone") ? s.reply(550, "No such file or directory") : listOverData(arg, s)),
    },
  });
  const c = await client(t, server);
  await assert.rejects(c.list("gone", { preferControl: true }), (e: unknown) => e instanceof FtpReplyError && e.code === 550);
  assert.deepEqual(names(await c.list("here", { preferControl: true })), ["f"]);
  assert.deepEqual(sent(server).filter((x) => /^(STAT|LIST)/.test(x)), ["STAT -a gone", "LIST -a gone", "STAT -a here"]);
});

test("213 with a status text instead of a listing, or a one-line 211: the data listing, remembered", async (t) => {
  for (const answer of ["213-Status of d1:\r\n File exists.\r\n213 End\r\n", "211 FTP server status ok\r\n"]) {
    const server = await serve(t, { handlers: { STAT: (_a, s) => s.write(answer), LIST: listOverData } });
    const c = await client(t, server);
    assert.deepEqual(names(await c.list("d1", { preferControl: true })), ["over-data.txt"]);
    await c.list("d2", { preferControl: true });
    assert.deepEqual(sent(server).filter((x) => /^(STAT|LIST)/.test(x)), ["STAT -a d1", "LIST -a d1", "LIST -a d2"], answer);
  }
});

test("an empty STAT body proves nothing: each folder is listed over data too, and after three STAT is dropped", async (t) => {
  // A server that answers every STAT with an empty body would otherwise make every folder look empty.
  const server = await serve(t, { handlers: { STAT: (_a, s) => s.write(statReply([])), LIST: listOverData } });
  const c = await client(t, server);
  for (const d of ["d1", "d2", "d3", "d4"]) assert.deepEqual(names(await c.list(d, { preferControl: true })), ["over-data.txt"]);
  assert.deepEqual(sent(server).filter((x) => /^(STAT|LIST)/.test(x)),
    ["STAT -a d1", "LIST -a d1", "STAT -a d2", "LIST -a d2", "STAT -a d3", "LIST -a d3", "LIST -a d4"]);
});

test("once STAT has listed, an empty body with . and .. is an empty folder; one without is checked over data", async (t) => {
  const server = await serve(t, {
    handlers: {
      STAT: (arg, s) => s.write(statReply(arg.endsWith("full") ? [...DOTS, LINE("f")] : arg.endsWith("empty") ? DOTS : [])),
      LIST: listOverData,
    },
  });
  const c = await client(t, server);
  await c.list("full", { preferControl: true });
  assert.deepEqual(await c.list("empty", { preferControl: true }), []);
  assert.deepEqual(names(await c.list("missing", { preferControl: true })), ["over-data.txt"]);
  assert.deepEqual(sent(server).filter((x) => /^(STAT|LIST)/.test(x)), ["STAT -a full", "STAT -a empty", "STAT -a missing", "LIST -a missing"]);
});

test("a server with MLSD (no STAT MLSD): MLSD over data, no STAT", async (t) => {
  const server = await serve(t, {
    features: ["MLST type*;size*;modify*;", "EPSV"],
    handlers: { MLSD: (_a, s) => sendData(s, "type=file;size=1;modify=20240101000000; m.txt\r\n"), STAT: (_a, s) => s.write(statReply([LINE("no")])) },
  });
  const c = await client(t, server);
  assert.equal(c.controlListing, undefined);
  assert.deepEqual(names(await c.list("d", { preferControl: true })), ["m.txt"]);
  assert.deepEqual(sent(server).filter((x) => /^(STAT|MLSD)/.test(x)), ["MLSD d"]);
});

test("a server offering STAT MLSD: STAT -M, exact times; 552 (too large to send) lists that folder over data and keeps STAT -M", async (t) => {
  const server = await serve(t, {
    features: ["MLST type*;size*;modify*;", "STAT MLSD", "EPSV"],
    handlers: {
      STAT: (arg, s) => (arg === "-M big" ? s.reply(552, "too large") : s.write(
        "213-Listing\r\n type=cdir;modify=20240101000000; /d\r\n type=file;size=3;modify=20240102030405; a b.txt\r\n213 End\r\n")),
      MLSD: (_a, s) => sendData(s, "type=file;size=1;modify=20240101000000; m.txt\r\n"),
    },
  });
  const c = await client(t, server);
  const [entry] = await c.list("d", { preferControl: true });
  assert.equal(entry?.name, "a b.txt");
  assert.equal(entry?.modifiedAt?.toISOString(), "2024-01-02T03:04:05.000Z");
  assert.deepEqual(names(await c.list("big", { preferControl: true })), ["m.txt"]);
  await c.list("d2", { preferControl: true });
  assert.deepEqual(sent(server).filter((x) => /^(STAT|MLSD)/.test(x)), ["STAT -M d", "STAT -M big", "MLSD big", "STAT -M d2"]);
});

test("a STAT reply larger than a control connection carries: ListingLimitError controlBytes, the connection closed", async (t) => {
  const many = Array.from({ length: 2000 }, (_, i) => LINE(`file-number-${i}.txt`));
  assert.ok(many.join("\r\n").length > LISTING_DEFAULTS.maxControlListingBytes);
  const server = await serve(t, { handlers: { STAT: (_a, s) => s.write(statReply(many)), LIST: listOverData } });
  const c = await client(t, server);
  await assert.rejects(c.list("big", { preferControl: true }), (e: unknown) => e instanceof ListingLimitError && e.limit === "controlBytes");
  assert.equal(c.closed, true);
});

test("a STAT reply dripping a line at a time past the deadline: FtpTimeoutError, the connection closed", async (t) => {
  let timer: NodeJS.Timeout | undefined;
  t.after(() => clearInterval(timer));
  const server = await serve(t, {
    handlers: {
      STAT: (_a, s) => {
        s.write("213-Status follows:\r\n");
        // Each line comes well within the command timeout, so only the listing's deadline ends it.
        timer = setInterval(() => s.write(`${LINE("slow")}\r\n`), 50);
      },
    },
  });
  const c = await client(t, server, 400);
  await assert.rejects(c.list("d", { preferControl: true }), (e: unknown) => e instanceof FtpTimeoutError && /STAT listing of d/.test(e.message));
  assert.equal(c.closed, true);
});

test("a STAT listing with unsafe names: refused and reported, the rest kept", async (t) => {
  const server = await serve(t, { handlers: { STAT: (_a, s) => s.write(statReply([...DOTS, LINE("../escape"), LINE("ok")])) } });
  const c = await client(t, server);
  const refused: string[] = [];
  assert.deepEqual(names(await c.list("d", { preferControl: true, onRejected: (r) => refused.push(r.name ?? r.line) })), ["ok"]);
  assert.deepEqual(refused, ["../escape"]);
});
