import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFile, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { promisify } from "node:util";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { verifyPassword } from "../../src/server/index.js";
import { runFerry, spawnFerry } from "../helpers/cli.js";
import { requirePeer } from "../helpers/peers.js";
import { pseudoRandomBytes, tempDir } from "../helpers/tmp.js";

const run = promisify(execFile);

/** Spawn `ferry serve`, wait for its "listening" log line, return the child and port. */
async function startServe(args: string[]): Promise<{ child: ChildProcess; port: number; stderr: () => string; exited: Promise<number | null> }> {
  const child = spawnFerry(["serve", "--port", "0", ...args], { FERRY_LOG_LEVEL: "info" });
  // Listen for the exit at once: it may come while the test awaits something else.
  const exited = once(child, "exit").then(([code]) => code as number | null);
  let err = "";
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (err += d));
  for (let i = 0; i < 300; i++) {
    const m = /"event":"server\.listen".*?"port":(\d+)/.exec(err);
    if (m) return { child, port: Number(m[1]), stderr: () => err, exited };
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill("SIGKILL");
  throw new Error(`ferry serve did not start: ${err}`);
}

describe("cli: ferry serve and ferry hash-password", () => {
  let dir: { path: string; remove: () => Promise<void> };
  const children: ChildProcess[] = [];
  // Larger than loopback socket buffers (a few MB), so the server is still sending at SIGTERM.
  const data = pseudoRandomBytes(16_000_000, 12);
  before(async () => {
    dir = await tempDir();
    await writeFile(join(dir.path, "file.bin"), data);
  });
  after(async () => {
    for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
    await dir.remove();
  });

  it("serves a transfer, and SIGTERM during a download lets it finish, then exits 0", async (t) => {
    const curl = requirePeer(t, "curl", "apt-get install -y curl");
    if (!curl) return;
    const { child, port, stderr, exited } = await startServe(["--root", dir.path, "--user", "alice:s3cret:rw", "--user", "bob:pw:ro"]);
    children.push(child);
    const out = join(dir.path, "..", `dl-${port}.bin`);
    t.after(() => import("node:fs/promises").then((f) => f.rm(out, { force: true })));
    const download = run(curl, ["-sS", "--max-time", "30", "--limit-rate", "4M", "-o", out, `ftp://alice:s3cret@127.0.0.1:${port}/file.bin`]);
    // SIGTERM once bytes are flowing: curl has written part of the file.
    const { stat } = await import("node:fs/promises");
    for (let i = 0; i < 200; i++) {
      const size = (await stat(out).catch(() => undefined))?.size ?? 0;
      if (size > 0) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    assert.ok(((await stat(out)).size) < data.length, "the download was still running at SIGTERM");
    child.kill("SIGTERM");
    await download;
    assert.deepEqual(await readFile(out), data, "the running transfer finished during the grace period");
    assert.equal(await exited, 0);
    assert.match(stderr(), /"event":"transfer".*"complete":true/);
    assert.doesNotMatch(stderr(), /s3cret/, "the password never reaches the log");
  });

  it("loads users with password hashes from --config", async (t) => {
    const curl = requirePeer(t, "curl", "apt-get install -y curl");
    if (!curl) return;
    const hashed = await runFerry(["hash-password"], { input: "from-config\n" });
    const cfg = join(dir.path, "..", `serve-${process.pid}.yaml`);
    t.after(() => import("node:fs/promises").then((f) => f.rm(cfg, { force: true })));
    await writeFile(cfg, `server:\n  root: ${JSON.stringify(dir.path)}\n  users:\n    - name: carol\n      passwordHash: "${hashed.stdout.trim()}"\n`);
    const { child, port, exited } = await startServe(["--config", cfg]);
    children.push(child);
    const { stdout } = await run(curl, ["-sS", "--max-time", "20", `ftp://carol:from-config@127.0.0.1:${port}/`]);
    assert.match(stdout, /file\.bin/);
    child.kill("SIGINT");
    assert.equal(await exited, 0);
  });

  it("hash-password prints a hash that verifies", async () => {
    const r = await runFerry(["hash-password"], { input: "correct horse\n" });
    assert.equal(r.code, 0, r.stderr);
    const hash = r.stdout.trim();
    assert.match(hash, /^scrypt\$\d+\$\d+\$\d+\$/);
    assert.equal(await verifyPassword("correct horse", hash), true);
    assert.equal(await verifyPassword("correct horse\n", hash), false);
    const empty = await runFerry(["hash-password"], { input: "" });
    assert.equal(empty.code, 2);
    assert.match(empty.stderr, /empty password/);
  });

});

describe("cli: ferry serve refuses bad flags with exit 2 and a message naming the fix", { concurrency: 5 }, () => {
  const bad: Array<{ args: string[]; message: RegExp }> = [
    { args: ["--user", "a:b"], message: /no root directory: pass --root DIR/ },
    { args: ["--root", "/nonexistent-ferry-root", "--user", "a:b"], message: /not an existing directory/ },
    { args: ["--root", "."], message: /no users: pass --user NAME:PASS/ },
    { args: ["--root", ".", "--user", "nopass"], message: /expected NAME:PASS/ },
    { args: ["--root", ".", "--user", "a:b", "--port", "70000"], message: /--port 70000: expected a port number/ },
    { args: ["--root", ".", "--user", "a:b", "--pasv-ports", "9-5"], message: /--pasv-ports 9-5: expected LO-HI/ },
    { args: ["--root", ".", "--user", "a:b", "--pasv-address", "::1"], message: /expected an IPv4 address/ },
    { args: ["--root", ".", "--user", "a:b", "--anonymous=yes"], message: /expected --anonymous, --anonymous=ro or --anonymous=rw/ },
    { args: ["--root", ".", "--user", "a:b", "--frobnicate"], message: /unknown option '--frobnicate'/ },
    { args: ["--config", "/nonexistent/serve.yaml"], message: /\/nonexistent\/serve\.yaml: invalid config/ },
  ];
  for (const b of bad) {
    it(`serve ${b.args.join(" ")} -> exit 2`, async () => {
      const r = await runFerry(["serve", ...b.args], { timeoutMs: 30_000 });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, b.message);
    });
  }
});
