/**
 * D4, D6, D8 (issue 12 failure #1): a download into a full, read-only or unwritable local
 * destination ends with a clear error naming the path and the cause, exit 1, nothing under
 * the final name, and no unhandled rejection or stack trace — for `ferry get` (streamed and
 * small files) and `ferry mirror` (per-file EACCES with the other files going on; a full or
 * read-only destination stops the run early and says so).
 *
 * Needs root (tmpfs mounts, a non-root child for EACCES): skipped outside CI without it, a
 * loud failure in CI.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { chmod, mkdir, open, readdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { startFerryServer, type RunningFerryServer } from "../helpers/ferryServer.js";
import { ferryArgv, REPO_ROOT } from "../helpers/cli.js";
import { pseudoRandomBytes, tempDir } from "../helpers/tmp.js";
import { FtpClient } from "../../src/client/index.js";
import { downloadAttempt, LocalFileError } from "../../src/sync/index.js";

function canMount(): boolean {
  const root = process.getuid?.() === 0;
  if (!root && process.env.CI === "true") assert.fail("this fault test needs root (tmpfs mounts, runuser) and CI must run it as root");
  return root;
}

function mountTmpfs(dir: string, size: string): () => void {
  execFileSync("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir]);
  return () => {
    try {
      execFileSync("umount", ["-l", dir]);
    } catch {
      // already gone
    }
  };
}

/** Fill the filesystem holding `path` (ENOSPC) with one file. */
async function fillUp(path: string): Promise<void> {
  const fh = await open(path, "w");
  try {
    for (let n = 64 * 1024; n >= 512;) {
      try {
        const { bytesWritten } = await fh.write(Buffer.alloc(n));
        if (bytesWritten < n) n /= 2;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOSPC") throw err;
        n /= 2;
      }
    }
  } finally {
    await fh.close();
  }
}

interface Run { code: number | null; stdout: string; stderr: string }

/** Run the CLI (as `user` when given, through runuser), to completion. */
function ferry(args: string[], env: NodeJS.ProcessEnv, user?: string): Promise<Run> {
  const argv = ferryArgv(...args);
  const [cmd, ...rest] = (user ? ["runuser", "-u", user, "--", ...argv] : argv) as [string, ...string[]];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, rest, { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), 40_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** No crash: no unhandled rejection, no stack frames. */
function assertClean(r: Run): void {
  const all = r.stdout + r.stderr;
  assert.doesNotMatch(all, /Unhandled|unhandledRejection|^\s+at /m, `a crash or stack trace:\n${all}`);
}

interface Setup {
  server: RunningFerryServer;
  dir: string;
  env: NodeJS.ProcessEnv;
  /** Mount a tmpfs of `size` on dir, unmounted before the temp folder is removed. */
  mount: (dir: string, size: string) => void;
}

async function setup(t: { after: (fn: () => Promise<void>) => void }): Promise<Setup> {
  const server = await startFerryServer();
  const tmp = await tempDir("ferry-d4-");
  await chmod(tmp.path, 0o755); // the nobody child must reach its folders
  const umounts: (() => void)[] = [];
  t.after(async () => {
    for (const u of umounts.reverse()) u();
    await server.close();
    await tmp.remove();
  });
  const state = join(tmp.path, "state");
  await mkdir(state, { mode: 0o777 });
  await chmod(state, 0o777);
  return {
    server, dir: tmp.path, env: { FERRY_STATE_DIR: state, HOME: tmp.path, FERRY_LOG_LEVEL: "error" },
    mount: (dir, size) => umounts.push(mountTmpfs(dir, size)),
  };
}

test("D4 get: a 3 MiB file into a 1 MiB tmpfs: 'destination full', exit 1, nothing published, no crash", { skip: !canMount() }, async (t) => {
  const { server, dir, env, mount } = await setup(t);
  await writeFile(join(server.root, "big.bin"), pseudoRandomBytes(3 * 1024 * 1024));
  const dest = join(dir, "full");
  await mkdir(dest);
  mount(dest, "1m");
  const r = await ferry(["get", `${server.url()}/big.bin`, join(dest, "big.bin")], env);
  assertClean(r);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /destination full: .*full.*ENOSPC/);
  assert.deepEqual((await readdir(dest)).filter((n) => n === "big.bin"), []);
});

test("D4 get: a small file (<= 1 MiB, the in-memory path) into a full tmpfs", { skip: !canMount() }, async (t) => {
  const { server, dir, env, mount } = await setup(t);
  await writeFile(join(server.root, "small.bin"), pseudoRandomBytes(200 * 1024));
  const dest = join(dir, "full");
  await mkdir(dest);
  mount(dest, "1m");
  await fillUp(join(dest, "filler"));
  const r = await ferry(["get", `${server.url()}/small.bin`, dest + "/"], env);
  assertClean(r);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /destination full: .*ENOSPC/);
  assert.deepEqual((await readdir(dest)).sort(), ["filler"]);
});

test("D6 get: read-only destination, direct and nested: 'destination is read-only', exit 1, no stack trace", { skip: !canMount() }, async (t) => {
  const { server, dir, env, mount } = await setup(t);
  await writeFile(join(server.root, "big.bin"), pseudoRandomBytes(2 * 1024 * 1024));
  await writeFile(join(server.root, "small.bin"), pseudoRandomBytes(1000));
  const dest = join(dir, "ro");
  await mkdir(dest);
  mount(dest, "4m");
  execFileSync("mount", ["-o", "remount,ro", dest]);
  const cases = [["big.bin", join(dest, "big.bin")], ["small.bin", join(dest, "small.bin")], ["small.bin", join(dest, "a", "b", "c", "file")]] as const;
  const runs = await Promise.all(cases.map(([name, target]) => ferry(["get", `${server.url()}/${name}`, target], env)));
  for (const r of runs) {
    assertClean(r);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /destination is read-only: .*ro.*EROFS/, r.stderr);
  }
  assert.deepEqual(await readdir(dest), []);
});

test("D8 get as a non-root user into a 0555 folder: 'permission denied', exit 1, no stack trace", { skip: !canMount() }, async (t) => {
  const { server, dir, env, mount } = await setup(t);
  await writeFile(join(server.root, "big.bin"), pseudoRandomBytes(2 * 1024 * 1024));
  await writeFile(join(server.root, "small.bin"), pseudoRandomBytes(1000));
  const locked = join(dir, "locked");
  await mkdir(locked);
  await chmod(locked, 0o555);
  const cases = [["big.bin", join(locked, "big.bin")], ["small.bin", join(locked, "small.bin")], ["small.bin", join(locked, "a", "b", "file")]] as const;
  const runs = await Promise.all(cases.map(([name, target]) => ferry(["get", `${server.url()}/${name}`, target], env, "nobody")));
  for (const r of runs) {
    assertClean(r);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /permission denied: .*locked.*EACCES/, r.stderr);
  }
  assert.deepEqual(await readdir(locked), []);
});

test("D8 mirror as a non-root user: EACCES for the files of a 0555 folder is reported per file, the other files arrive", { skip: !canMount() }, async (t) => {
  const { server, dir, env, mount } = await setup(t);
  const src = join(server.root, "m");
  await mkdir(join(src, "locked"), { recursive: true });
  await mkdir(join(src, "open"), { recursive: true });
  await writeFile(join(src, "locked", "big.bin"), pseudoRandomBytes(2 * 1024 * 1024));
  await writeFile(join(src, "locked", "small.bin"), pseudoRandomBytes(100));
  await writeFile(join(src, "open", "big.bin"), pseudoRandomBytes(2 * 1024 * 1024, 7));
  await writeFile(join(src, "top.txt"), "top");
  await mkdir(join(src, "locked", "deeper"));
  await writeFile(join(src, "locked", "deeper", "x.txt"), "x");
  const dest = join(dir, "dest");
  await mkdir(join(dest, "locked"), { recursive: true });
  await mkdir(join(dest, "open"));
  execFileSync("chown", ["-R", "nobody", dest]);
  await chmod(join(dest, "locked"), 0o555);
  const r = await ferry(["mirror", `${server.url()}/m`, dest], env, "nobody");
  assertClean(r);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /FAILED locked\/big\.bin: .*permission denied: .*EACCES/);
  assert.match(r.stdout, /FAILED locked\/small\.bin: .*permission denied: .*EACCES/);
  assert.match(r.stdout, /FAILED locked\/deeper\/x\.txt: .*permission denied: .*locked\/deeper.*EACCES/);
  assert.equal((await stat(join(dest, "open", "big.bin"))).size, 2 * 1024 * 1024);
  assert.equal((await stat(join(dest, "top.txt"))).size, 3);
  assert.deepEqual(await readdir(join(dest, "locked")), []);
});

test("D4 mirror into a full tmpfs: stops early with 'destination full', exit 1, nothing partial published, no crash", { skip: !canMount() }, async (t) => {
  const { server, dir, env, mount } = await setup(t);
  const src = join(server.root, "m");
  await mkdir(src);
  for (let i = 0; i < 12; i++) await writeFile(join(src, `f${String(i).padStart(2, "0")}.bin`), pseudoRandomBytes(1536 * 1024, i + 1));
  const dest = join(dir, "full");
  await mkdir(dest);
  mount(dest, "2m");
  const r = await ferry(["mirror", "--parallel", "2", `${server.url()}/m`, dest], env);
  assertClean(r);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /destination full: .*ENOSPC/);
  assert.match(r.stdout + r.stderr, /stopped early|not attempted/);
  for (const n of await readdir(dest)) {
    if (n.endsWith(".ferry-part")) continue;
    assert.equal((await stat(join(dest, n))).size, 1536 * 1024, `${n} is published but incomplete`);
  }
});

test("D4 downloadAttempt into a full disk: rejects with LocalFileError 'disk-full' and stops reading the data at once", { skip: !canMount() }, async (t) => {
  const { server, dir, mount } = await setup(t);
  const size = 64 * 1024 * 1024;
  const fh = await open(join(server.root, "huge.bin"), "w");
  await fh.truncate(size); // sparse: costs no disk on the server side
  await fh.close();
  const dest = join(dir, "full");
  await mkdir(dest);
  mount(dest, "1m");
  const client = await FtpClient.connect({ host: server.host, port: server.port, user: "user", password: "pass" });
  t.after(() => client.close());
  let received = 0;
  await assert.rejects(
    downloadAttempt(client, { localPath: join(dest, "huge.bin"), remotePath: "huge.bin", size }, { onBytes: (n) => (received += n) }),
    (e: unknown) => e instanceof LocalFileError && e.condition === "disk-full" && /destination full: .*huge\.bin.*ENOSPC/.test(e.message),
  );
  // The transfer was cut when the disk refused, not read to its end into nowhere.
  assert.ok(received < 16 * 1024 * 1024, `read ${received} bytes of ${size} after the disk was full`);
  assert.deepEqual(await readdir(dest), [], "the temporary file is removed (the disk gets its room back)");
  await client.noop(); // the connection is still usable
});
