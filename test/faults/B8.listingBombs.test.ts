// FAULTS B8 (I10): listing bombs. An endless LIST, a million entries, a folder inside every
// folder: caps on bytes, entries and depth end each with an error naming the setting that
// raises it, the walk stays iterative, and memory stays bounded while the listing streams.
import { test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { readdir } from "node:fs/promises";
import { FtpClient } from "../../src/client/index.js";
import { ListingLimitError } from "../../src/protocol/index.js";
import { startFakeFtpServer, sendData, type FakeServer, type FakeServerOptions, type FakeSession } from "../helpers/fakeFtpServer.js";
import { runFerryMeasured } from "../helpers/peakRss.js";
import { runFerry } from "../helpers/cli.js";
import { scanRemote, type ListingLimits } from "../../src/sync/remote.js";
import type { Tree } from "../../src/sync/tree.js";
import { poolFor } from "../sync/remoteHelpers.js";
import { daemonConfigSchema, parseConfig } from "../../src/config/index.js";
import { resolveDaemonConfig } from "../../src/daemon/index.js";
import { tempDir } from "../helpers/tmp.js";

// ferry ls of a one-entry listing peaks at about 80 MiB (node + tsx compiling the CLI); before
// the fix a million entries took 495-556 MB. The bound leaves room for the 200,000 entries
// that sorted output holds at the default cap (about 125 MiB measured).
const RSS_BOUND_MIB = 180;
const STREAMING_BOUND_MIB = 150;

async function withServer(t: import("node:test").TestContext, options: FakeServerOptions): Promise<FakeServer> {
  const server = await startFakeFtpServer(options);
  t.after(() => server.close());
  return server;
}

const unixLine = (i: number): string => `-rw-r--r--    1 ftp      ftp          1234 Jan 01  2024 file-${i}.txt\r\n`;

/** Send `count` lines (endless when undefined) on the next data connection, honouring backpressure, until the client goes. */
async function streamLines(s: FakeSession, count: number | undefined, line: (i: number) => string): Promise<void> {
  s.reply(150, "Here comes the directory listing.");
  const d = await s.data();
  let closed = false;
  d.on("error", () => (closed = true));
  d.on("close", () => (closed = true));
  let i = 0;
  while (!closed && (count === undefined || i < count)) {
    let chunk = "";
    for (let k = 0; k < 1000 && (count === undefined || i < count); k++) chunk += line(i++);
    if (!d.write(chunk)) await drainOrClose(d);
  }
  if (closed) {
    s.reply(426, "Connection closed; transfer aborted.");
    return;
  }
  d.end();
  await once(d, "close");
  s.reply(226, "Directory send OK.");
}

const url = (server: FakeServer, path = "/"): string => `ftp://u:p@127.0.0.1:${server.port}${path}`;

test("B8: an endless LIST stream ends at the entry cap with an error naming --max-dir-entries; memory stays bounded", async (t) => {
  const server = await withServer(t, { handlers: { LIST: (_a, s) => streamLines(s, undefined, unixLine) } });
  const run = await runFerryMeasured(["ls", "--max-dir-entries", "50000", url(server)], { keepStdout: false });
  assert.equal(run.code, 1, run.stderr);
  assert.match(run.stderr, /more than 50000 entries.*--max-dir-entries/);
  assert.equal(run.stdoutLines, 0, "nothing is printed of a refused listing");
  assert.ok(run.peakMiB < RSS_BOUND_MIB, `peak RSS ${run.peakMiB.toFixed(0)} MiB`);
});

test("B8: an endless listing without entries (one endless line, or junk lines) ends at the byte cap; no line is held whole", async (t) => {
  for (const line of [(): string => "x".repeat(4096), (): string => "total 0\r\n"]) {
    const server = await withServer(t, { handlers: { LIST: (_a, s) => streamLines(s, undefined, line) } });
    const client = await FtpClient.connect({ host: "127.0.0.1", port: server.port, user: "u", password: "p", maxListingBytes: 4 * 1024 * 1024 });
    t.after(() => client.close());
    const err = await client.list("/").then(() => assert.fail("an endless listing must fail"), (e: unknown) => e);
    assert.ok(err instanceof ListingLimitError, String(err));
    assert.equal(err.limit, "bytes");
    assert.match(err.message, /larger than 4194304 bytes/);
  }
});

test("B8: 10^6 entries: refused at the default cap; with the cap raised, --unsorted streams them all with memory flat", async (t) => {
  const server = await withServer(t, { handlers: { LIST: (_a, s) => streamLines(s, 1_000_000, unixLine) } });
  const capped = await runFerryMeasured(["ls", url(server)], { keepStdout: false });
  assert.equal(capped.code, 1, capped.stderr);
  assert.match(capped.stderr, /more than 200000 entries.*--max-dir-entries/);
  assert.ok(capped.peakMiB < RSS_BOUND_MIB, `peak RSS ${capped.peakMiB.toFixed(0)} MiB`);

  const raised = await runFerryMeasured(["ls", "--unsorted", "--max-dir-entries", "1000000", url(server)], { keepStdout: false });
  assert.equal(raised.code, 0, raised.stderr);
  assert.equal(raised.stdoutLines, 1_000_000);
  // Nothing is held while streaming (about 90-110 MiB measured, 80 of them node + tsx).
  assert.ok(raised.peakMiB < STREAMING_BOUND_MIB, `peak RSS ${raised.peakMiB.toFixed(0)} MiB`);
});

/** A server where every folder holds a folder "d" (and a file "f"), forever. */
function nestedForever(mlsd: false | "same-unique" | "new-unique"): FakeServerOptions {
  const listed: string[] = [];
  return {
    ...(mlsd ? { features: ["MLST type*;size*;modify*;unique*;", "EPSV"] } : {}),
    handlers: {
      LIST: (arg, s) => {
        listed.push(arg);
        return sendData(s, "drwxr-xr-x    2 ftp      ftp          4096 Jan 01  2024 d\r\n-rw-r--r--    1 ftp      ftp             1 Jan 01  2024 f\r\n");
      },
      MLSD: (arg, s) => {
        listed.push(arg);
        const unique = mlsd === "same-unique" ? "801U1" : `801U${arg.split("/").length}`;
        return sendData(s, `type=dir;unique=${unique};modify=20240101000000; d\r\ntype=file;size=1;modify=20240101000000; f\r\n`);
      },
      RETR: (_a, s) => sendData(s, "x"),
      SIZE: (_a, s) => s.reply(213, "1"),
      STAT: (_a, s) => s.reply(502, "no"),
    },
  };
}

/** Scan `root` of `server` in this process (no CLI start-up), with `limits`. */
async function scan(t: import("node:test").TestContext, server: FakeServer, limits: ListingLimits = {}): Promise<Tree> {
  const pool = poolFor(url(server), 2);
  t.after(() => pool.drain());
  return scanRemote(pool, "/root", { isRetriable: () => false, ...limits });
}

test("B8: a folder inside every folder (LIST): the walk stops at --max-depth with an error naming it, nothing written", async (t) => {
  const tmp = await tempDir();
  t.after(() => tmp.remove());
  const server = await withServer(t, nestedForever(false));
  const run = await runFerry(["mirror", "--max-depth", "5", url(server, "/root"), tmp.path], { timeoutMs: 30_000 });
  assert.equal(run.code, 1, run.stderr);
  assert.match(run.stderr, /deeper than 5 folders.*--max-depth/);
  assert.deepEqual(await readdir(tmp.path), []);

  // The default: 100 levels, each one listing, then the error (the walk is a queue, not recursion).
  server.commands.length = 0;
  const err = await scan(t, server).then(() => assert.fail("an endless tree must fail"), (e: unknown) => e);
  assert.ok(err instanceof ListingLimitError, String(err));
  assert.equal(err.limit, "depth");
  assert.match(err.message, /deeper than 100 folders.*--max-depth/);
  const listings = server.commands.filter((c) => c.startsWith("LIST")).length;
  assert.ok(listings >= 100 && listings <= 101, `${listings} listings`);
});

test("B8: MLSD unique facts: the same folder listed again is a loop, skipped and reported; new uniques hit the depth cap", async (t) => {
  const loop = await withServer(t, nestedForever("same-unique"));
  const tree = await scan(t, loop);
  assert.deepEqual(tree.skipped.map((s) => s.path), ["d/d"]);
  assert.match(tree.skipped[0]!.reason, /folder loop.*unique=801U1/);
  assert.deepEqual([...tree.dirs.keys()].sort(), ["", "d"]);

  const endless = await withServer(t, nestedForever("new-unique"));
  await assert.rejects(scan(t, endless, { maxDepth: 8 }), (e: unknown) => e instanceof ListingLimitError && /deeper than 8 folders/.test(e.message));
});

test("B8: the whole-scan cap (--max-entries) and the per-folder cap end a scan with errors naming them", async (t) => {
  const server = await withServer(t, nestedForever(false));
  await assert.rejects(scan(t, server, { maxEntries: 20 }),
    (e: unknown) => e instanceof ListingLimitError && e.limit === "entries" && /more than 20 entries.*--max-entries/.test(e.message));
  await assert.rejects(scan(t, server, { maxDirEntries: 1 }),
    (e: Error) => e.cause instanceof ListingLimitError && e.cause.limit === "dirEntries" && /more than 1 entries.*--max-dir-entries/.test(e.message));
});

/** Wait until `d` drains or closes, leaving no listener behind. */
function drainOrClose(d: import("node:net").Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      d.off("drain", done);
      d.off("close", done);
      resolve();
    };
    d.on("drain", done);
    d.on("close", done);
  });
}

test("B8: daemon mirror jobs take maxEntries, maxDirEntries and maxDepth; absent keys keep the defaults", () => {
  const remotes = `remotes: { backup: { url: "ftp://edge@files.example:21/base", password: "s3cret" } }\n`;
  const text = `${remotes}database: ./q.db\njobs:\n` +
    `  - { name: m, kind: mirror, source: "backup:/abs", target: ./local, schedule: "*/5 * * * *", maxEntries: 10, maxDirEntries: 5, maxDepth: 3 }\n` +
    `  - { name: n, kind: mirror, source: "backup:/abs", target: ./other, schedule: "*/5 * * * *" }\n`;
  const cfg = resolveDaemonConfig("/etc/ferry/f.yaml", parseConfig("/etc/ferry/f.yaml", text, daemonConfigSchema, {}));
  assert.deepEqual(cfg.mirrors[0]!.listingLimits, { maxEntries: 10, maxDirEntries: 5, maxDepth: 3 });
  assert.deepEqual(cfg.mirrors[1]!.listingLimits, {});
  assert.throws(() => parseConfig("/etc/ferry/f.yaml", text.replace("maxDepth: 3", "maxDepth: 0"), daemonConfigSchema, {}), /maxDepth/);
});
