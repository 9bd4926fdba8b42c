// FAULTS B1 (I5): hostile names in LIST and MLSD listings during a mirror. Each bad entry is
// skipped and reported by name and reason ("skipped" in --json, "N entries rejected" in the
// summary), nothing is written outside the destination (canary), and valid siblings sync.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readFile, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { startFakeFtpServer, sendData, type FakeServer, type FakeServerOptions } from "../helpers/fakeFtpServer.js";
import { runFerry } from "../helpers/cli.js";
import { tempDir } from "../helpers/tmp.js";

const LONG = "n".repeat(4096);
/** Each hostile name and what it tries. */
const HOSTILE = ["../../x", "/abs/x", "a/b", "..", ".", "", "a\\b", "C:x", "nul\0x", "cr\rx", LONG];

const unix = (type: "-" | "d", name: string): string => `${type}rw-r--r--    1 ftp      ftp             3 Jan 01  2024 ${name}\r\n`;
const mlsd = (type: "file" | "dir", name: string): string => `type=${type};size=3;modify=20240101000000; ${name}\r\n`;

/** A server listing the hostile names beside valid ones, in LIST-unix or MLSD form. */
function hostileServer(form: "list" | "mlsd"): FakeServerOptions {
  const line = (type: "file" | "dir", name: string): string => (form === "mlsd" ? mlsd(type, name) : unix(type === "file" ? "-" : "d", name));
  const root = [...HOSTILE.map((n) => line("file", n)), line("file", "good.txt"), line("dir", "sub"),
    // LF cannot be inside a listed name: the line ends there, the rest is a line of its own.
    line("file", "lf\n../../y")].join("");
  const listing = (arg: string): string => (/\/sub$/.test(arg) ? line("file", "inner.txt") + line("file", "../../z") : root);
  return {
    ...(form === "mlsd" ? { features: ["MLST type*;size*;modify*;", "EPSV", "SIZE", "REST STREAM"] } : {}),
    handlers: {
      LIST: (arg, s) => sendData(s, listing(arg)),
      MLSD: (arg, s) => sendData(s, listing(arg)),
      RETR: (_a, s) => sendData(s, "abc"),
      SIZE: (_a, s) => s.reply(213, "3"),
    },
  };
}

async function withServer(t: import("node:test").TestContext, options: FakeServerOptions): Promise<FakeServer> {
  const server = await startFakeFtpServer(options);
  t.after(() => server.close());
  return server;
}

/** All paths under `dir`, relative, "/"-separated, sorted. */
async function walk(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for (const d of await readdir(dir, { withFileTypes: true })) {
    const rel = prefix + d.name;
    out.push(d.isDirectory() ? `${rel}/` : rel);
    if (d.isDirectory()) out.push(...(await walk(join(dir, d.name), `${rel}/`)));
  }
  return out.sort();
}

for (const form of ["list", "mlsd"] as const) {
  test(`B1 (${form}): hostile names are skipped and reported, nothing lands outside the destination, valid siblings sync`, async (t) => {
    const tmp = await tempDir();
    t.after(() => tmp.remove());
    // dest sits two levels down, so "../../x" from it would be tmp/x, next to the canary.
    const dest = join(tmp.path, "a", "b", "dest");
    await mkdir(dest, { recursive: true });
    await writeFile(join(tmp.path, "canary"), "untouched");
    const server = await withServer(t, hostileServer(form));
    const url = `ftp://u:p@127.0.0.1:${server.port}/root`;

    const run = await runFerry(["mirror", "--json", url, dest], { timeoutMs: 30_000 });
    assert.equal(run.code, 0, run.stderr);
    const out = JSON.parse(run.stdout) as { skipped: { path: string; name?: string; reason: string; rejected?: boolean }[]; transferred: { path: string }[] };
    const rejected = out.skipped.filter((s) => s.rejected);
    // Every hostile name, exactly as sent (cut to 200 characters), with a reason; "../../z" in sub too.
    // In MLSD form the tail after an LF ("../../y") is no facts line: refused as unreadable. LIST
    // passes over lines of no entry ("total 12"), so there it is simply not an entry.
    const tail = form === "mlsd" ? ["../../y"] : [];
    assert.deepEqual(rejected.map((s) => s.name).sort(), [...HOSTILE.map((n) => n.slice(0, 200)), "../../z", ...tail].sort());
    for (const s of rejected) assert.match(s.reason, /^(unsafe name from the server \((empty name|".*" is not a file name|name (contains|starts|longer))|unreadable listing line \(not an MLSD\/MLST line)/);
    assert.match(rejected.find((s) => s.name === LONG.slice(0, 200))!.reason, /longer than 255 bytes \(4096\)/);
    assert.ok(rejected.every((s) => !/[\0\r\n]/.test(s.path)), "paths in the report are printable");
    assert.deepEqual(out.transferred.map((x) => x.path).sort(), ["good.txt", "lf", "sub/inner.txt"]);

    assert.deepEqual(await walk(tmp.path), ["a/", "a/b/", "a/b/dest/", "a/b/dest/good.txt", "a/b/dest/lf", "a/b/dest/sub/", "a/b/dest/sub/inner.txt", "canary"]);
    assert.equal(await readFile(join(tmp.path, "canary"), "utf8"), "untouched");
    assert.ok(!server.commands.some((c) => /^RETR .*(\.\.|abs|C:|nul|cr|nnnn)/.test(c)), "no hostile name was ever asked for");

    // The human summary counts them.
    const human = await runFerry(["mirror", url, dest], { timeoutMs: 30_000 });
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, new RegExp(`^${HOSTILE.length + 1 + tail.length} entries rejected`, "m"));
  });
}

test("B1: ferry ls --json reports the refused names in skipped, and stdout never carries one", async (t) => {
  const server = await withServer(t, hostileServer("mlsd"));
  const run = await runFerry(["ls", "--json", `ftp://u:p@127.0.0.1:${server.port}/root`], { timeoutMs: 30_000 });
  assert.equal(run.code, 0, run.stderr);
  const out = JSON.parse(run.stdout) as { entries: { name: string }[]; skipped: { name: string; reason: string }[] };
  assert.deepEqual(out.entries.map((e) => e.name), ["good.txt", "lf", "sub"]);
  assert.deepEqual(out.skipped.map((s) => s.name).sort(), [...HOSTILE.map((n) => n.slice(0, 200)), "../../y"].sort());
  const human = await runFerry(["ls", `ftp://u:p@127.0.0.1:${server.port}/root`], { timeoutMs: 30_000 });
  assert.equal(human.code, 0, human.stderr);
  assert.deepEqual(human.stdout.split("\n").filter(Boolean), ["good.txt", "lf", "sub/"]);
  assert.match(human.stderr, new RegExp(`^${HOSTILE.length + 1} entries rejected`, "m"));
});
