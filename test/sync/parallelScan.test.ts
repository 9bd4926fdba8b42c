// Issue 13 part 3: the remote scan takes folders as work items served by several pool
// connections at once, and merges their listings in walk order, so the tree, `skipped`, the
// caps, MLSD loop detection and a failed listing's error are those of a one-connection walk.
// A no-change mirror sends listings only, no per-file command.
import { test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as delay } from "node:timers/promises";
import { join } from "node:path";
import { isRetriable } from "../../src/client/index.js";
import { ListingLimitError } from "../../src/protocol/index.js";
import { runMirror } from "../../src/sync/mirror.js";
import { scanRemote, type RemoteScanOptions } from "../../src/sync/remote.js";
import type { Tree } from "../../src/sync/tree.js";
import { startFakeFtpServer, sendData, type FakeServer } from "../helpers/fakeFtpServer.js";
import { startFerryServer } from "../helpers/ferryServer.js";
import { startCutProxy } from "../helpers/cutProxy.js";
import { tempDir } from "../helpers/tmp.js";
import { poolFor } from "./remoteHelpers.js";
import { readTree, writeTree } from "./treeUtil.js";

const MODIFY = "modify=20240101000000";

/**
 * /root holds 20 folders d00..d19 with 3 files each; every fourth has a subfolder "sub" with
 * one file. d05/x and d09/y carry the same MLSD unique (a loop: the walk keeps the one a
 * sequential walk meets first, d05/x), d03 lists a refused name "a\b". Folders later in the
 * walk answer sooner, so replies arrive out of walk order.
 */
function listingOf(path: string): string | undefined {
  const dir = path.replace(/^\/root\/?/, "");
  const file = (name: string, size = 1): string => `type=file;size=${size};${MODIFY}; ${name}\r\n`;
  const folder = (name: string, unique: string): string => `type=dir;unique=${unique};${MODIFY}; ${name}\r\n`;
  if (dir === "") return Array.from({ length: 20 }, (_, i) => folder(`d${String(i).padStart(2, "0")}`, `U-d${i}`)).join("") + file("top.txt", 7);
  const m = /^d(\d\d)(?:\/(sub|x|y))?$/.exec(dir);
  if (!m) return undefined;
  const i = Number(m[1]);
  if (m[2] !== undefined) return file(`${m[2]}-file.txt`, 3);
  let body = file("a.txt") + file("b.txt", 2) + file("c.txt", 3);
  if (i % 4 === 0) body += folder("sub", `U-sub${i}`);
  if (i === 5) body += folder("x", "U-shared");
  if (i === 9) body += folder("y", "U-shared");
  if (i === 3) body += file("a\\b");
  return body;
}

interface Counted { server: FakeServer; current: number; max: number; listings: number }

/** The fake server of listingOf, each MLSD delayed, counting listings in flight server-side. */
async function delayedServer(t: import("node:test").TestContext, baseMs = 50, failing: Record<string, number> = {}): Promise<Counted> {
  const counted = { current: 0, max: 0, listings: 0 } as Counted;
  counted.server = await startFakeFtpServer({
    features: ["MLST type*;size*;modify*;unique*;", "EPSV"],
    handlers: {
      MLSD: async (arg, s) => {
        counted.current++;
        counted.listings++;
        counted.max = Math.max(counted.max, counted.current);
        try {
          const n = /d(\d\d)/.exec(arg);
          // Later folders answer sooner: completion order differs from walk order.
          await delay(baseMs + (n ? (20 - Number(n[1])) * 3 : 0));
          const failAfter = failing[arg.replace(/^\/root\//, "")];
          if (failAfter !== undefined) {
            await delay(failAfter);
            s.reply(550, "Permission denied.");
            return;
          }
          const body = listingOf(arg);
          if (body === undefined) s.reply(550, "No such directory.");
          else await sendData(s, body);
        } finally {
          counted.current--;
        }
      },
      STAT: (_a, s) => s.reply(502, "no"),
    },
  });
  t.after(() => counted.server.close());
  return counted;
}

async function scanWith(t: import("node:test").TestContext, server: FakeServer, connections: number, extra: Partial<RemoteScanOptions> = {}): Promise<Tree> {
  const pool = poolFor(`ftp://u:p@127.0.0.1:${server.port}`, connections);
  t.after(() => pool.drain());
  return scanRemote(pool, "/root", { isRetriable: () => false, concurrency: connections, ...extra });
}

/** The tree in a comparable form: folders in merge order, each folder's entries in order, skipped in order. */
function shape(tree: Tree): unknown {
  return {
    dirs: [...tree.dirs].map(([dir, list]) => [dir, list.map((e) => `${e.type}:${e.path}:${e.size}:${e.stamp ?? ""}`)]),
    skipped: tree.skipped, partials: [...tree.partials.keys()], missing: tree.missing ?? false,
  };
}

test("parallel scan: listings of a 20-folder tree overlap (counted server-side) and the tree is identical to a one-connection walk", async (t) => {
  const seq = await delayedServer(t, 10);
  const sequential = await scanWith(t, seq.server, 1);
  assert.equal(seq.max, 1, "one connection lists one folder at a time");

  const par = await delayedServer(t, 50);
  const parallel = await scanWith(t, par.server, 8);
  assert.ok(par.max > 1, `listings in flight at once: ${par.max}`);
  assert.ok(par.max <= 8, `never more than --parallel: ${par.max}`);
  assert.equal(par.listings, seq.listings, "each folder listed once");
  assert.equal(par.listings, 1 + 20 + 5 + 1, "root, 20 folders, 5 subs and d05/x");

  assert.deepEqual(shape(parallel), shape(sequential));
  // The loop, the refused name and the folder count, as the walk reports them.
  assert.deepEqual(parallel.skipped.map((s) => s.path), ["d03/a\\b", "d09/y"]);
  assert.ok(parallel.skipped.some((s) => s.path === "d09/y" && /folder loop.*d05\/x.*unique=U-shared/.test(s.reason)), JSON.stringify(parallel.skipped));
  assert.ok(parallel.skipped.some((s) => s.rejected === true && s.path.startsWith("d03/")), JSON.stringify(parallel.skipped));
  assert.equal(parallel.dirs.size, 1 + 20 + 5 + 1);
  assert.deepEqual(parallel.dirs.get("d05/x")?.map((e) => e.path), ["d05/x/x-file.txt"]);
  assert.equal(parallel.dirs.get("d09/y"), undefined);

  // A run about to transfer widens at once (one folder per connection): the same tree again.
  const eager = await delayedServer(t, 50);
  const widened = await scanWith(t, eager.server, 8, { dirsPerConnection: () => 1 });
  assert.ok(eager.max > 1, `listings in flight at once: ${eager.max}`);
  assert.deepEqual(shape(widened), shape(sequential));
});

test("parallel scan: the whole-scan cap, the depth cap and the per-folder cap still end the scan", async (t) => {
  const { server } = await delayedServer(t, 20);
  await assert.rejects(scanWith(t, server, 8, { maxEntries: 40 }),
    (e: unknown) => e instanceof ListingLimitError && e.limit === "entries" && /more than 40 entries/.test(e.message));
  await assert.rejects(scanWith(t, server, 8, { maxDepth: 1 }),
    (e: unknown) => e instanceof ListingLimitError && e.limit === "depth" && /deeper than 1 folders \(at d00\/sub\)/.test(e.message));
  await assert.rejects(scanWith(t, server, 8, { maxDirEntries: 3 }),
    (e: Error) => e.cause instanceof ListingLimitError && e.cause.limit === "dirEntries");
});

test("parallel scan: a folder that fails to list ends the scan with the error a sequential walk gives, whichever reply comes first", async (t) => {
  // d04 fails last (its reply is held back), d15 fails first: the walk names d04, as one connection would.
  const { server } = await delayedServer(t, 20, { d04: 150, d15: 0 });
  await assert.rejects(scanWith(t, server, 8), /^Error: list \/root\/d04: .*550/);
  await assert.rejects(scanWith(t, server, 1), /^Error: list \/root\/d04: .*550/);
});

test("parallel scan: an AbortSignal stops it", async (t) => {
  const counted = await delayedServer(t, 100);
  const ac = new AbortController();
  const scan = scanWith(t, counted.server, 8, { signal: ac.signal });
  // Abort once some folder listings are running (bounded wait on a server-side count).
  for (let i = 0; i < 200 && counted.listings < 3; i++) await delay(10);
  assert.ok(counted.listings >= 3, `${counted.listings} listings started`);
  ac.abort();
  await assert.rejects(scan, (e: Error) => e.name === "AbortError");
  assert.ok(counted.listings < 27, `the walk stopped before listing everything: ${counted.listings}`);
});

/** Commands a no-change mirror may send: session set-up, passive data, listings. Nothing per file. */
const SESSION_VERBS = new Set(["USER", "PASS", "FEAT", "OPTS", "TYPE", "PWD", "EPSV", "PASV", "MLSD", "LIST", "STAT", "NOOP", "QUIT"]);

test("a no-change mirror, both directions, sends listings only: no SIZE, MDTM, RETR, STOR or other per-file command", async (t) => {
  const tmp = await tempDir("ferry-noch-");
  const server = await startFerryServer();
  t.after(async () => { await server.close(); await tmp.remove(); });
  const spec: Record<string, string> = {};
  for (let i = 0; i < 60; i++) spec[`d${i % 20}/f${i}.txt`] = `file ${i}\n`;
  await writeTree(join(server.root, "down"), spec);
  await writeTree(join(tmp.path, "up"), spec);
  const proxy = await startCutProxy({ targetPort: server.port });
  t.after(() => proxy.close());
  const pool = poolFor(`ftp://user:pass@127.0.0.1:${proxy.port}`, 8);
  t.after(() => pool.drain());
  const run = (direction: "upload" | "download", localRoot: string, remoteRoot: string) =>
    runMirror({ direction, localRoot, remoteRoot, pool, isRetriable, parallel: 8, delete: true, retry: { attempts: 2, baseMs: 10, capMs: 20 } });

  for (const [direction, localRoot, remoteRoot] of [["download", join(tmp.path, "down"), "down"], ["upload", join(tmp.path, "up"), "up"]] as const) {
    const first = await run(direction, localRoot, remoteRoot);
    assert.equal(first.result?.failed.length, 0, JSON.stringify(first.result?.failed));
    assert.deepEqual(await readTree(localRoot), await readTree(join(server.root, remoteRoot)), `${direction}: the copy matches`);
    proxy.commands.length = 0;
    const again = await run(direction, localRoot, remoteRoot);
    assert.equal(again.plan.ops.length, 0, `${direction}: nothing to do: ${JSON.stringify(again.plan.ops)}`);
    const verbs = proxy.commands.map((c) => c.split(" ")[0]!.toUpperCase());
    const listings = verbs.filter((v) => v === "MLSD" || v === "LIST" || v === "STAT").length;
    assert.equal(listings, 21, `${direction}: one listing per folder: ${proxy.commands.join(" | ")}`);
    // ferry's server lists over the control connection (STAT -M): no data connection at all.
    assert.equal(proxy.commands.filter((c) => /^STAT -M /.test(c)).length, 21, proxy.commands.join(" | "));
    assert.deepEqual(verbs.filter((v) => v === "EPSV" || v === "PASV"), [], `${direction}: no data connection: ${proxy.commands.join(" | ")}`);
    assert.deepEqual(verbs.filter((v) => !SESSION_VERBS.has(v)), [], `${direction}: only listings and session commands: ${proxy.commands.join(" | ")}`);
  }
});
