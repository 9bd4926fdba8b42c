import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile, stat, writeFile, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { pino } from "pino";
import { parseNetrc, findNetrc, resolveRemote } from "../../src/cli/credentials.js";
import { startFerryServer, type RunningFerryServer } from "../helpers/ferryServer.js";
import { runFerry } from "../helpers/cli.js";
import { pseudoRandomBytes, tempDir } from "../helpers/tmp.js";
import { startCutProxy } from "../helpers/cutProxy.js";
import { readTree, sampleTree, writeTree } from "../sync/treeUtil.js";

/** FERRY_TEST_SERVER_LOG=FILE writes the server's debug log there (for diagnosing a failure). */
function serverLogger() {
  const file = process.env.FERRY_TEST_SERVER_LOG;
  return file ? pino({ level: "debug" }, pino.destination({ dest: file, sync: true })) : undefined;
}

async function setup(t: import("node:test").TestContext) {
  const logger = serverLogger();
  const server = await startFerryServer(logger ? { logger } : {});
  const tmp = await tempDir();
  t.after(async () => { await server.close(); await tmp.remove(); });
  const env = { FERRY_STATE_DIR: join(tmp.path, "state"), HOME: tmp.path, FERRY_PASSWORD: "", NETRC: "", FERRY_LOG_LEVEL: process.env.FERRY_LOG_LEVEL ?? "warn" };
  const ferry = (...args: string[]) => runFerry(args, { env, timeoutMs: 60_000 });
  return { server, tmp, env, ferry };
}
const base = (s: RunningFerryServer) => `ftp://user:pass@127.0.0.1:${s.port}`;

test("ferry mirror up and down: trees equal, re-run transfers nothing, --json, --delete, --dry-run", async (t) => {
  const { server, tmp, ferry } = await setup(t);
  const local = join(tmp.path, "src");
  await writeTree(local, sampleTree({ bigBytes: 2 << 20, smallFiles: 100 }));
  const up = await ferry("mirror", local, `${base(server)}/site`);
  assert.equal(up.code, 0, up.stderr + up.stdout);
  assert.match(up.stdout, /107 transferred, 0 unchanged, 0 deleted, 0 failed; .* verified: 107 by SHA-256/);
  assert.doesNotMatch(up.stdout + up.stderr, /:pass@/, "the password is never printed");
  assert.deepEqual(await readTree(join(server.root, "site")), await readTree(local));

  const again = await ferry("mirror", local, `${base(server)}/site`, "--json");
  assert.equal(again.code, 0, again.stderr);
  const json = JSON.parse(again.stdout) as { ok: boolean; transferred: unknown[]; unchanged: number; destination: string };
  assert.equal(json.ok, true);
  assert.equal(json.transferred.length, 0);
  assert.equal(json.unchanged, 107);
  assert.match(json.destination, /ftp:\/\/user:\*\*\*\*@/);

  const back = join(tmp.path, "back");
  await writeTree(back, { "extraneous.txt": "x" });
  const dry = await ferry("mirror", `${base(server)}/site`, back, "--delete", "--dry-run");
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /download  big\/blob\.bin \(2\.0 MiB; new\)/);
  assert.match(dry.stdout, /delete    extraneous\.txt \(not in source\)/);
  assert.deepEqual(Object.keys(await readTree(back)), ["extraneous.txt"], "dry run touched nothing");

  const down = await ferry("mirror", `${base(server)}/site`, back, "--delete", "--parallel", "8");
  assert.equal(down.code, 0, down.stderr + down.stdout);
  assert.match(down.stdout, /107 transferred, 0 unchanged, 1 deleted, 0 failed/);
  assert.deepEqual(await readTree(back), await readTree(local));
});

test("ferry mirror: usage errors exit 2, login and connection failures exit 3 without printing the password", async (t) => {
  const { server, tmp, ferry } = await setup(t);
  const cases: [string[], number, RegExp][] = [
    [["mirror", tmp.path, join(tmp.path, "x")], 2, /both sides are local/],
    [["mirror", `${base(server)}/a`, `${base(server)}/b`], 2, /both sides are remote/],
    [["mirror", tmp.path, `${base(server)}/a`, "--parallel", "0"], 2, /--parallel must be a whole number from 1 to 64/],
    [["mirror", tmp.path, `${base(server)}/a`, "--bwlimit", "fast"], 2, /bad bandwidth limit "fast"/],
    [["mirror", tmp.path, `sftp://h/a`], 2, /unsupported scheme "sftp"/],
    [["mirror", tmp.path, `ftp://user:wrongsecret@127.0.0.1:${server.port}/a`], 3, /login to ftp:\/\/user:\*\*\*\*@127\.0\.0\.1:\d+\/a refused .*530/],
    [["ls", `ftp://user@127.0.0.1:${server.port}/`], 3, /no password was given: put it in the URL, in FERRY_PASSWORD or in ~\/\.netrc/],
    [["mirror", tmp.path, `ftp://user:pass@127.0.0.1:1/a`], 3, /cannot connect to ftp:\/\/user:\*\*\*\*@127\.0\.0\.1:1\/a/],
  ];
  for (const [args, code, message] of cases) {
    const r = await ferry(...args);
    assert.equal(r.code, code, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.doesNotMatch(r.stderr + r.stdout, /wrongsecret/);
  }
});

test("ferry mirror: a file answered with 550 fails alone, exit 1, naming the file and the reply", async (t) => {
  const { server, tmp, ferry } = await setup(t);
  const proxy = await startCutProxy({ targetPort: server.port, deny: /^RETR .*secret\.txt/ });
  t.after(() => proxy.close());
  await writeTree(join(server.root, "d"), { "a.txt": "a", "secret.txt": "s", "b/c.txt": "c" });
  const local = join(tmp.path, "l");
  const r = await ferry("mirror", `ftp://user:pass@127.0.0.1:${proxy.port}/d`, local);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stdout, /FAILED secret\.txt: download secret\.txt: .*550 Permission denied \(injected\)/);
  assert.match(r.stdout, /2 transferred, 0 unchanged, 0 deleted, 1 failed/);
  assert.deepEqual(Object.keys(await readTree(local, { withParts: true })).sort(), ["a.txt", "b/", "b/c.txt"]);
});

test("ferry put / get with --continue, and ferry ls", async (t) => {
  const { server, tmp, ferry } = await setup(t);
  const data = pseudoRandomBytes(1_000_000, 5);
  const file = join(tmp.path, "data file.bin");
  await writeFile(file, data);
  await mkdir(join(server.root, "in"));
  // An interrupted earlier put left 400 000 bytes on the server.
  await writeFile(join(server.root, "in", ".data file.bin.ferry-part"), data.subarray(0, 400_000));
  const put = await ferry("put", file, `${base(server)}/in/`, "--continue");
  assert.equal(put.code, 0, put.stderr);
  assert.match(put.stdout, /uploaded .* \(resumed at byte 400000\) .* verified by SHA-256/);
  assert.deepEqual(await readFile(join(server.root, "in", "data file.bin")), data);

  const dest = join(tmp.path, "dl");
  await mkdir(dest);
  await writeFile(join(dest, ".data file.bin.ferry-part"), data.subarray(0, 250_000));
  const get = await ferry("get", `${base(server)}/in/data%20file.bin`, dest, "--continue");
  assert.equal(get.code, 0, get.stderr);
  assert.match(get.stdout, /downloaded .* \(resumed at byte 250000\)/);
  assert.deepEqual(await readFile(join(dest, "data file.bin")), data);
  assert.equal((await stat(join(dest, "data file.bin"))).mtime.getTime() > 0, true);

  const missing = await ferry("get", `${base(server)}/in/nope.bin`, dest);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /no such file on the server/);

  await writeTree(join(server.root, "in"), { "sub/": "", "é.txt": "e" });
  const ls = await ferry("ls", `${base(server)}/in`);
  assert.equal(ls.code, 0, ls.stderr);
  assert.deepEqual(ls.stdout.split("\n").filter(Boolean), ["data file.bin", "sub/", "é.txt"]);
  const long = await ferry("ls", `${base(server)}/in`, "--long");
  assert.match(long.stdout, /^- +1000000 {2}\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ +data file\.bin$/m);
  const json = JSON.parse((await ferry("ls", `${base(server)}/in`, "--json")).stdout) as { entries: { name: string; type: string; size?: number }[]; skipped: unknown[] };
  assert.deepEqual(json.skipped, []);
  assert.deepEqual(json.entries.map((e) => [e.name, e.type]), [["data file.bin", "file"], ["sub", "dir"], ["é.txt", "file"]]);
});

test("credentials: FERRY_PASSWORD and ~/.netrc", async (t) => {
  const { server, tmp, env } = await setup(t);
  const netrc = join(tmp.path, "netrc");
  await writeFile(netrc, `# comment\nmachine 127.0.0.1 login user password "pass"\nmacdef init\ncd /\n\ndefault login anonymous password x@y\n`);
  const viaNetrc = await runFerry(["ls", `ftp://127.0.0.1:${server.port}/`], { env: { ...env, NETRC: netrc } });
  assert.equal(viaNetrc.code, 0, viaNetrc.stderr);
  const viaEnv = await runFerry(["ls", `ftp://user@127.0.0.1:${server.port}/`], { env: { ...env, FERRY_PASSWORD: "pass" } });
  assert.equal(viaEnv.code, 0, viaEnv.stderr);
  const entries = parseNetrc("machine a login u1 password p1 account acc\nmachine b login u2 password p2\ndefault login anon password none");
  assert.deepEqual(findNetrc(entries, "A"), { machine: "a", login: "u1", password: "p1", account: "acc" });
  assert.deepEqual(findNetrc(entries, "b", "someone"), { login: "anon", password: "none" }.login === "someone" ? undefined : undefined);
  assert.equal(findNetrc(entries, "zz")?.login, "anon");
  const r = resolveRemote("ftp://bob:s3cret@h/x", {});
  assert.equal(r.display, "ftp://bob:****@h/x");
  assert.equal(r.connect.password, "s3cret");
  assert.equal(r.passwordSource, "url");
});

test("ferry mirror --exclude/--include leave filtered files alone (even with --delete); --checksum finds a same-size change", async (t) => {
  const { server, tmp, ferry } = await setup(t);
  const local = join(tmp.path, "src");
  await writeTree(local, { "a.txt": "aaaa", "b.tmp": "temp", "logs/x.log": "log", "keep/c.txt": "cccc" });
  await writeTree(join(server.root, "f"), { "remote-only.tmp": "r" });
  const r = await ferry("mirror", local, `${base(server)}/f`, "--exclude", "*.tmp", "--exclude", "logs", "--delete");
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.deepEqual(Object.keys(await readTree(join(server.root, "f"))).sort(), ["a.txt", "keep/", "keep/c.txt", "remote-only.tmp"]);
  const only = await ferry("mirror", local, `${base(server)}/g`, "--include", "c.txt", "--json");
  assert.deepEqual((JSON.parse(only.stdout) as { transferred: { path: string }[] }).transferred.map((x) => x.path), ["keep/c.txt"]);

  // Same size, same mtime, different bytes on the server: only --checksum sees it.
  const remoteFile = join(server.root, "f", "a.txt");
  const { mtime } = await stat(remoteFile);
  await writeFile(remoteFile, "zzzz");
  const { utimes } = await import("node:fs/promises");
  await utimes(remoteFile, mtime, mtime);
  const plain = await ferry("mirror", local, `${base(server)}/f`, "--exclude", "*.tmp", "--exclude", "logs", "--json");
  assert.equal((JSON.parse(plain.stdout) as { transferred: unknown[] }).transferred.length, 0);
  const sum = await ferry("mirror", local, `${base(server)}/f`, "--exclude", "*.tmp", "--exclude", "logs", "--checksum");
  assert.equal(sum.code, 0, sum.stderr);
  assert.match(sum.stdout, /1 transferred, 1 unchanged/);
  assert.equal(await readFile(remoteFile, "utf8"), "aaaa");
});
