import assert from "node:assert/strict";
import { mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import { pino } from "pino";
import { Authenticator, FtpServer } from "../../src/server/index.js";
import { spawnFerry } from "../helpers/cli.js";
import { spawnPeer, type PeerProcess } from "../helpers/netns.js";
import { pseudoRandomBytes, tempDir } from "../helpers/tmp.js";

// FAULTS.md C4: the server dies (SIGKILL) in the middle of a `ferry mirror` and comes back on
// the same port 2 s later. The mirror backs off, reconnects, and converges: every file once,
// with the right bytes, nothing partial under a final name, and a re-run finds nothing to do.
// (The daemon's side of an outage, jobs waiting for the remote, is test/daemon/outage.test.ts.)

const OUTAGE_MS = 2000;

/** Every file under `dir` (relative path → bytes), folders walked. */
async function tree(dir: string, base = ""): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const e of await readdir(join(dir, base), { withFileTypes: true })) {
    const rel = base ? `${base}/${e.name}` : e.name;
    if (e.isDirectory()) for (const [k, v] of await tree(dir, rel)) out.set(k, v);
    else out.set(rel, await readFile(join(dir, rel)));
  }
  return out;
}

function runCli(args: string[], env: NodeJS.ProcessEnv): { done: Promise<{ code: number | null; stdout: string; stderr: string }> } {
  const child = spawnFerry(args, env);
  let stdout = "";
  let stderr = "";
  child.stdout!.setEncoding("utf8").on("data", (d: string) => (stdout += d));
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  return { done: new Promise((resolve) => child.on("close", (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); })) };
}

// Both directions at once: each mostly waits (the outage, the backoff), so together they take the time of one.
describe("C4 server restart mid-mirror", { concurrency: 2 }, () => {
for (const direction of ["upload", "download"] as const) {
  test(`C4 server SIGKILLed mid-mirror (${direction}) and back on the same port after ${OUTAGE_MS} ms: the mirror converges`, { timeout: 60_000 }, async (t) => {
    const tmp = await tempDir("ferry-c4-");
    const servers: PeerProcess[] = [];
    t.after(async () => {
      for (const s of servers) await s.kill();
      await tmp.remove();
    });
    const root = join(tmp.path, "srv");
    const local = join(tmp.path, "local");
    await mkdir(join(root, "m"), { recursive: true });
    await mkdir(local);
    const files = new Map<string, Buffer>();
    for (let i = 0; i < 4; i++) files.set(`big-${i}.bin`, pseudoRandomBytes(3 * 1024 * 1024, 100 + i));
    for (let i = 0; i < 30; i++) files.set(`d${i % 3}/small-${i}.txt`, pseudoRandomBytes(5000 + i * 100, 200 + i));
    const source = direction === "upload" ? local : join(root, "m");
    for (const [rel, body] of files) {
      await mkdir(join(source, rel, ".."), { recursive: true });
      await writeFile(join(source, rel), body);
    }
    // The first server is a child process, so it can be SIGKILLed.
    const first = spawnPeer("server", { root, port: 0, limits: { loginFailureDelayMs: 0 } });
    servers.push(first);
    const port = (await first.waitFor((e) => e.event === "listening", "the server to listen")).port as number;
    const url = `ftp://user:pass@127.0.0.1:${port}/m`;
    const env = { FERRY_STATE_DIR: join(tmp.path, "state"), FERRY_LOG_LEVEL: "warn" };
    // A shared 6 MB/s limit stretches the 12 MiB to about 2 s, so the kill lands mid-transfer.
    const args = direction === "upload" ? ["mirror", local, url, "--parallel", "4"] : ["mirror", url, local, "--parallel", "4"];
    const mirror = runCli([...args, "--bwlimit", "6M"], env);
    // Kill it while transfers run: once a big file's partial holds 1 MiB.
    const partDir = direction === "upload" ? join(root, "m") : local;
    const partial = async (): Promise<boolean> => {
      for (let i = 0; i < 4; i++) {
        const size = await stat(join(partDir, `.big-${i}.bin.ferry-part`)).then((st) => st.size, () => 0);
        if (size >= 1024 * 1024) return true;
      }
      return false;
    };
    for (let i = 0; !(await partial()); i++) {
      assert.ok(i < 3000, "no big transfer got under way within 30 s");
      await new Promise((r) => setTimeout(r, 10));
    }
    await first.kill();
    const killedAt = Date.now();
    const completedBefore = first.events.filter((e) => e.event === "transfer" && e.status === "completed").length;
    assert.ok(completedBefore < files.size, "killed in the middle, not after the end");
    await new Promise((r) => setTimeout(r, OUTAGE_MS));
    // The restarted one runs in-process (it starts in milliseconds, a child takes seconds here).
    const lines: Record<string, unknown>[] = [];
    const logger = pino({ level: "info" }, { write: (line: string) => { lines.push(JSON.parse(line) as Record<string, unknown>); } });
    const authenticator = await Authenticator.create({ root, anonymous: false, users: [{ name: "user", password: "pass", readOnly: false }] });
    const second = new FtpServer({ authenticator, host: "127.0.0.1", port, logger, limits: { loginFailureDelayMs: 0 } });
    assert.equal(await second.listen(), port);
    t.after(() => second.close(0));
    t.diagnostic(`C4 ${direction}: killed after ${completedBefore} transfers; back after ${Date.now() - killedAt} ms`);
    const r = await mirror.done;
    assert.equal(r.code, 0, `exit ${r.code}\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /0 failed/);
    const dest = direction === "upload" ? join(root, "m") : local;
    const got = await tree(dest);
    // A server killed mid-STOR leaves its hidden upload temp files (as Pure-FTPd does); they
    // are never listed nor published, and a SIGKILLed server cannot remove them. ferry's own
    // temporary names (.NAME.ferry-part) must all be gone.
    for (const name of [...got.keys()]) if (direction === "upload" && /(^|\/)\.ferry-upload\.[0-9a-f]{16}$/.test(name)) got.delete(name);
    assert.deepEqual([...got.keys()].sort(), [...files.keys()].sort(), "every file, and no temporary file under any name");
    for (const [rel, body] of files) assert.ok(got.get(rel)?.equals(body), `${rel}: bytes differ`);
    // The mirror really reconnected to the new server, and a re-run finds nothing to do.
    assert.ok(lines.some((e) => e.event === "transfer" && e.status === "completed"), "transfers after the restart");
    const again = await runCli(args, env).done;
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, / 0 transferred, 34 unchanged, 0 deleted, 0 failed/);
  });
}
});
