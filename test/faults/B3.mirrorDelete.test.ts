/**
 * B3 — deletion tricks in a mirror with --delete (issue 12, failure 3). An empty but
 * successful listing, an empty local source, a listing made only of hostile names, a failed
 * listing or transfer, names such as `file:`, `~x` and `./`, excludes: none of them may delete
 * anything outside the destination, nor the destination itself, without the user saying so.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { isRetriable } from "../../src/client/index.js";
import { runMirror } from "../../src/sync/mirror.js";
import { buildPlan } from "../../src/sync/plan.js";
import { parseMaxDelete } from "../../src/sync/deleteGuard.js";
import { createFilter } from "../../src/sync/filter.js";
import { daemonConfigSchema } from "../../src/config/daemonSchema.js";
import type { Entry, Tree } from "../../src/sync/tree.js";
import { startFerryServer } from "../helpers/ferryServer.js";
import { startFakeFtpServer, sendData } from "../helpers/fakeFtpServer.js";
import { startCutProxy } from "../helpers/cutProxy.js";
import { runFerry } from "../helpers/cli.js";
import { tempDir } from "../helpers/tmp.js";
import { poolFor } from "../sync/remoteHelpers.js";
import { readTree, writeTree } from "../sync/treeUtil.js";

/** 29 entries: 20 files in 9 folders. */
function tree29(): Record<string, string> {
  const spec: Record<string, string> = {};
  for (let i = 0; i < 20; i++) spec[`d${i % 9}/f${i}.txt`] = `file ${i}\n`;
  return spec;
}

async function setup(t: import("node:test").TestContext, users?: { name: string; password: string; root?: string }[]) {
  const tmp = await tempDir("ferry-b3-");
  const server = await startFerryServer(users ? { users } : {});
  t.after(async () => { await server.close(); await tmp.remove(); });
  const env = { FERRY_STATE_DIR: join(tmp.path, "state"), HOME: join(tmp.path, "home") };
  // A canary beside the destination: nothing outside the mirror's roots may change.
  await writeTree(tmp.path, { "canary.txt": "canary\n", "home/.bashrc": "rc\n" });
  return { tmp, server, env, url: (path: string) => `ftp://user:pass@127.0.0.1:${server.port}/${path}` };
}

const outside = async (tmp: string) => {
  const all = await readTree(tmp);
  return Object.fromEntries(Object.entries(all).filter(([p]) => p === "canary.txt" || p.startsWith("home/")));
};

test("download: an empty but successful listing of the source folder deletes nothing (exit 1, names --allow-empty-source); with it, the copy is emptied", async (t) => {
  const { tmp, server, env, url } = await setup(t);
  await mkdir(join(server.root, "m"));
  const local = join(tmp.path, "local");
  await writeTree(local, tree29());
  const before = await readTree(local);
  assert.equal(Object.keys(before).length, 29);
  const canary = await outside(tmp.path);

  const r = await runFerry(["mirror", url("m"), local, "--delete"], { env });
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /refusing to delete 29 entries from .*local: the source ftp:\/\/user:\*\*\*\*@127\.0\.0\.1:\d+\/m is empty; pass --allow-empty-source/);
  assert.deepEqual(await readTree(local, { withParts: true }), before, "the local copy is untouched");

  const ok = await runFerry(["mirror", url("m"), local, "--delete", "--allow-empty-source"], { env });
  assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  assert.deepEqual(await readTree(local, { withParts: true }), {});
  assert.deepEqual(await outside(tmp.path), canary);
});

test("download: an empty login folder (root listing \".\" empty) deletes nothing", async (t) => {
  const empty = await tempDir("ferry-b3-root-");
  t.after(empty.remove);
  const { tmp, env, server } = await setup(t, [{ name: "user", password: "pass", root: empty.path }]);
  const local = join(tmp.path, "local");
  await writeTree(local, tree29());
  const before = await readTree(local);
  const r = await runFerry(["mirror", `ftp://user:pass@127.0.0.1:${server.port}/`, local, "--delete", "--json"], { env });
  assert.equal(r.code, 1, r.stdout + r.stderr);
  const out = JSON.parse(r.stdout) as { ok: boolean; deleted: string[]; deleteRefusal?: string; failed: { op: string; error: string }[] };
  assert.equal(out.ok, false);
  assert.deepEqual(out.deleted, []);
  assert.match(out.deleteRefusal ?? "", /refusing to delete 29 entries/);
  assert.ok(out.failed.some((f) => f.op === "delete" && /--allow-empty-source/.test(f.error)));
  assert.deepEqual(await readTree(local, { withParts: true }), before);
});

test("upload: an empty local source deletes none of the 29 remote entries", async (t) => {
  const { tmp, server, env, url } = await setup(t);
  const remote = join(server.root, "m");
  await writeTree(remote, tree29());
  const before = await readTree(remote);
  const local = join(tmp.path, "empty");
  await mkdir(local);
  const r = await runFerry(["mirror", local, url("m"), "--delete"], { env });
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /refusing to delete 29 entries from ftp:\/\/user:\*\*\*\*@.*\/m: the source .*empty is empty; pass --allow-empty-source/);
  assert.deepEqual(await readTree(remote, { withParts: true }), before);
  // A source that does not exist is an error, never an empty source.
  const missing = await runFerry(["mirror", join(tmp.path, "no-such"), url("m"), "--delete", "--allow-empty-source"], { env });
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /source folder .*no-such does not exist/);
  assert.deepEqual(await readTree(remote, { withParts: true }), before);
});

test("--max-delete N|P%: over the limit the transfers still run, the deletions are refused (exit 1); within it they run", async (t) => {
  const { tmp, server, env, url } = await setup(t);
  const remote = join(server.root, "m");
  const spec: Record<string, string> = {};
  for (let i = 0; i < 10; i++) spec[`keep${i}.txt`] = `k${i}\n`;
  await writeTree(remote, { ...spec, "new.txt": "new\n" });
  const local = join(tmp.path, "local");
  const extras: Record<string, string> = {};
  for (let i = 0; i < 6; i++) extras[`old${i}.txt`] = `o${i}\n`;
  await writeTree(local, { ...spec, ...extras });

  const r = await runFerry(["mirror", url("m"), local, "--delete", "--max-delete", "25%"], { env });
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /refusing to delete 6 of the 16 entries in .*local: more than --max-delete 25% \(4 entries\).*raise --max-delete/);
  assert.equal(await readFile(join(local, "new.txt"), "utf8"), "new\n", "the non-delete part ran");
  for (const name of Object.keys(extras)) assert.equal(await readFile(join(local, name), "utf8"), extras[name]);

  const count = await runFerry(["mirror", url("m"), local, "--delete", "--max-delete", "5"], { env });
  assert.equal(count.code, 1);
  assert.match(count.stderr, /refusing to delete 6 of the 17 entries .*more than --max-delete 5/);

  const ok = await runFerry(["mirror", url("m"), local, "--delete", "--max-delete", "6"], { env });
  assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  assert.deepEqual(await readTree(local, { withParts: true }), await readTree(remote));

  const bad = await runFerry(["mirror", url("m"), local, "--delete", "--max-delete", "lots"], { env });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /max-delete must be a number of entries .* or a percentage/);
  const alone = await runFerry(["mirror", url("m"), local, "--max-delete", "5"], { env });
  assert.equal(alone.code, 2);
  assert.match(alone.stderr, /--max-delete limits what --delete removes: add --delete/);
});

test("an exclude with an empty pattern is refused before anything runs; excluded files are never deleted", async (t) => {
  const { tmp, server, env, url } = await setup(t);
  const remote = join(server.root, "m");
  await writeTree(remote, { "a.txt": "a\n" });
  const local = join(tmp.path, "local");
  await writeTree(local, { "a.txt": "a\n", "keep.log": "log\n", "logs/x.log": "x\n", "gone.txt": "g\n" });
  const empty = await runFerry(["mirror", url("m"), local, "--delete", "--exclude", ""], { env });
  assert.equal(empty.code, 2, empty.stderr);
  assert.match(empty.stderr, /empty glob/);
  assert.equal(await readFile(join(local, "gone.txt"), "utf8"), "g\n");
  const r = await runFerry(["mirror", url("m"), local, "--delete", "--exclude", "*.log"], { env });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.deepEqual(Object.keys(await readTree(local, { withParts: true })).sort(), ["a.txt", "keep.log", "logs/", "logs/x.log"]);
  assert.equal(await readFile(join(local, "logs", "x.log"), "utf8"), "x\n");
  // Upload: the same on the server's side.
  const pool = poolFor(`ftp://user:pass@127.0.0.1:${server.port}`, 2);
  t.after(() => pool.drain());
  await writeTree(remote, { "keep.log": "r\n", "logs/y.log": "y\n", "gone/z.txt": "z\n" });
  const src = join(tmp.path, "src");
  await writeTree(src, { "a.txt": "a\n" });
  const up = await runMirror({ direction: "upload", localRoot: src, remoteRoot: "m", pool, isRetriable, delete: true, filter: createFilter({ exclude: ["*.log"] }) });
  assert.deepEqual(up.result!.failed, []);
  assert.deepEqual(Object.keys(await readTree(remote, { withParts: true })).sort(), ["a.txt", "keep.log", "logs/", "logs/y.log"]);
  // The daemon's config refuses an empty glob too, and gives mirror jobs a deletion limit by default.
  const job = { name: "m", kind: "mirror", source: "srv:/m", target: "./l", schedule: "* * * * *", delete: true };
  const cfg = (extra: Record<string, unknown>) => daemonConfigSchema.safeParse({ remotes: { srv: { url: "ftp://h/" } }, jobs: [{ ...job, ...extra }] });
  assert.equal(cfg({ exclude: [""] }).success, false);
  const parsed = cfg({});
  assert.ok(parsed.success);
  const m = parsed.data.jobs[0]!;
  assert.ok(m.kind === "mirror");
  assert.deepEqual(m.maxDelete, { percent: 50 });
  assert.equal(m.allowEmptySource, false);
  assert.deepEqual(parseMaxDelete(7), { count: 7 });
  assert.equal(cfg({ maxDelete: "150%" }).success, false);
});

/** A pool and a run of the engine against a ferry server, in-process. */
function engine(t: import("node:test").TestContext, port: number) {
  const pool = poolFor(`ftp://user:pass@127.0.0.1:${port}`, 2);
  t.after(() => pool.drain());
  return (direction: "upload" | "download", localRoot: string, extra: Partial<Parameters<typeof runMirror>[0]> = {}) =>
    runMirror({ direction, localRoot, remoteRoot: "m", pool, isRetriable, parallel: 2, delete: true, retry: { attempts: 2, baseMs: 10, capMs: 20 }, ...extra });
}

test("download: a source folder missing on the server is an error, never an empty source, even with --allow-empty-source", async (t) => {
  const { tmp, server } = await setup(t);
  const run = engine(t, server.port);
  const local = join(tmp.path, "local");
  await writeTree(local, tree29());
  const before = await readTree(local);
  await assert.rejects(run("download", local, { remoteRoot: "no-such", allowEmptySource: true }), /the source folder no-such does not exist/);
  assert.deepEqual(await readTree(local, { withParts: true }), before);
});

test("a failed transfer means no deletion, in both directions", async (t) => {
  const { tmp, server } = await setup(t);
  const proxy = await startCutProxy({ targetPort: server.port, deny: /^(RETR|STOR) .*denied/ });
  t.after(() => proxy.close());
  const run = engine(t, proxy.port);
  const remote = join(server.root, "m");
  const local = join(tmp.path, "local");
  // Download: denied.txt cannot be fetched, so old.txt and old/ must stay.
  await writeTree(remote, { "a.txt": "a\n", "denied.txt": "d\n" });
  await writeTree(local, { "old.txt": "o\n", "old/x.txt": "x\n" });
  const down = await run("download", local);
  assert.equal(down.result!.failed.length, 1);
  assert.deepEqual(down.result!.deleted, []);
  assert.match(down.result!.deletesSkipped ?? "", /not deleting 3 extraneous entries because 1 operations failed/);
  assert.equal(await readFile(join(local, "old/x.txt"), "utf8"), "x\n");
  // Upload: the same the other way.
  const src = join(tmp.path, "src");
  await writeTree(src, { "b.txt": "b\n", "denied.txt": "d2\n" });
  const up = await run("upload", src);
  assert.ok(up.result!.failed.some((f) => f.path === "denied.txt"), JSON.stringify(up.result!.failed));
  assert.deepEqual(up.result!.deleted, []);
  assert.equal(await readFile(join(remote, "a.txt"), "utf8"), "a\n");
});

test("a failed listing of a subfolder (an error, not an empty listing) does not delete its copy", async (t) => {
  const { tmp, server } = await setup(t);
  const proxy = await startCutProxy({ targetPort: server.port, deny: /^(MLSD|LIST|NLST|STAT).*sub/ });
  t.after(() => proxy.close());
  const run = engine(t, proxy.port);
  await writeTree(join(server.root, "m"), { "a.txt": "a\n", "sub/s.txt": "s\n" });
  const local = join(tmp.path, "local");
  await writeTree(local, { "a.txt": "a\n", "sub/s.txt": "s\n", "sub/local-only.txt": "l\n", "extra.txt": "e\n" });
  const before = await readTree(local);
  const outcome = await run("download", local).then((o) => o, (err: unknown) => err as Error);
  if (outcome instanceof Error) assert.match(outcome.message, /list m\/sub: .*550/);
  else {
    assert.ok(outcome.result!.failed.length > 0, "the run is not clean");
    assert.deepEqual(outcome.result!.deleted, []);
  }
  assert.deepEqual(await readTree(local, { withParts: true }), before, "nothing deleted, the subfolder's copy intact");
});

test("plan: a source folder without a listing (unreadable) keeps its destination copy and makes the run unclean", () => {
  const e = (path: string, type: "file" | "dir"): Entry => ({ path, name: path.split("/").pop()!, type, size: 1, mtimePrecise: true });
  const src: Tree = { dirs: new Map([["", [e("sub", "dir"), e("a", "file")]]]), partials: new Map(), skipped: [{ path: "sub", reason: "cannot read folder: EACCES" }] };
  const dst: Tree = { dirs: new Map([["", [e("sub", "dir"), e("a", "file")]], ["sub", [e("sub/x", "file"), e("sub/y", "dir")]], ["sub/y", []]]), partials: new Map(), skipped: [] };
  const plan = buildPlan(src, dst, { direction: "upload", delete: true });
  assert.deepEqual(plan.ops.filter((op) => op.kind === "delete"), []);
  assert.equal(plan.conflicts.length, 1);
  assert.match(plan.conflicts[0]!.reason, /could not be listed/);
});

test("names `file:`, `~x` and folders `foobar/file:`: mirrored as plain names inside the destination, both directions; nothing outside changes", async (t) => {
  const { tmp, server } = await setup(t);
  const run = engine(t, server.port);
  await writeTree(server.root, { "outside-m.txt": "server canary\n" });
  const remote = join(server.root, "m");
  const tricky = { "foobar/file:/x.txt": "x\n", "foobar/file:/.bashrc": "evil\n", "~x/y.txt": "y\n", "file:": "f\n", "~": "t\n" };
  await writeTree(remote, tricky);
  const local = join(tmp.path, "local");
  await writeTree(local, { "foobar/old.txt": "o\n", "~x/old.txt": "o\n", "stale/": "" });
  const canary = await outside(tmp.path);
  const down = await run("download", local);
  assert.deepEqual(down.result!.failed, []);
  assert.deepEqual(down.result!.deleted.sort(), ["foobar/old.txt", "stale", "~x/old.txt"]);
  assert.deepEqual(await readTree(local, { withParts: true }), await readTree(remote));
  assert.deepEqual(await outside(tmp.path), canary);

  const src = join(tmp.path, "src");
  await writeTree(src, { "foobar/file:/z.txt": "z\n", "~x/y.txt": "y\n" });
  const up = await run("upload", src, { maxDelete: parseMaxDelete("100%") });
  assert.deepEqual(up.result!.failed, []);
  assert.deepEqual(await readTree(remote, { withParts: true }), await readTree(src));
  assert.equal(await readFile(join(server.root, "outside-m.txt"), "utf8"), "server canary\n");
  assert.deepEqual(await outside(tmp.path), canary);
  assert.equal(await readFile(join(src, "~x", "y.txt"), "utf8"), "y\n");
});

test("a listing of only hostile names (`./`, `..`, `.`, `../x`, `a/b`) is an empty source: nothing is deleted; with one valid name `~x`, only the destination changes", async (t) => {
  const tmp = await tempDir("ferry-b3-fake-");
  t.after(tmp.remove);
  let withValid = false;
  const fake = await startFakeFtpServer({
    features: ["MLST type*;size*;modify*;", "EPSV", "SIZE", "REST STREAM", "UTF8"],
    handlers: {
      MLSD: (_arg, s) => sendData(s, [
        "type=dir;modify=20240101000000; ./", "type=pdir;modify=20240101000000; ..", "type=cdir;modify=20240101000000; .",
        "type=dir;modify=20240101000000; ..", "type=file;size=3;modify=20240101000000; ../x", "type=file;size=3;modify=20240101000000; a/b",
        ...(withValid ? ["type=file;size=3;modify=20240101000000; ~x"] : []),
      ].map((l) => `${l}\r\n`).join("")),
      SIZE: (arg, s) => (arg === "~x" ? s.reply(213, "3") : s.reply(550, "No such file.")),
      MLST: (arg, s) => (arg === "~x" ? s.reply(250, ["Listing", " type=file;size=3;modify=20240101000000; ~x", "End"]) : s.reply(550, "No such file.")),
      RETR: (arg, s) => (arg === "~x" ? sendData(s, "abc") : s.reply(550, "No such file.")),
    },
  });
  t.after(() => fake.close());
  const pool = poolFor(`ftp://user:pass@127.0.0.1:${fake.port}`, 1);
  t.after(() => pool.drain());
  const root = join(tmp.path, "dest");
  await writeTree(tmp.path, { "canary.txt": "c\n", "x": "outside x\n" });
  await writeTree(root, { "a.txt": "a\n", "d/b.txt": "b\n" });
  const run = () => runMirror({ direction: "download", localRoot: root, remoteRoot: ".", pool, isRetriable, parallel: 1, delete: true, retry: { attempts: 1, baseMs: 1, capMs: 1 } });
  const first = await run();
  assert.deepEqual(first.result!.deleted, []);
  assert.match(first.deleteRefusal ?? "", /refusing to delete 3 entries .*the source \. is empty; pass --allow-empty-source/);
  assert.deepEqual(Object.keys(await readTree(root)).sort(), ["a.txt", "d/", "d/b.txt"]);
  assert.ok(!fake.commands.some((c) => /^(RETR|SIZE|MLST) .*(\.\.|\/)/.test(c)), "no command for a hostile name");

  withValid = true;
  const second = await run();
  assert.deepEqual(second.result!.failed, []);
  assert.deepEqual(await readTree(root), { "~x": (await readTree(root))["~x"]! });
  assert.equal(await readFile(join(root, "~x"), "utf8"), "abc");
  assert.equal(await readFile(join(tmp.path, "x"), "utf8"), "outside x\n");
  assert.equal(await readFile(join(tmp.path, "canary.txt"), "utf8"), "c\n");
});

