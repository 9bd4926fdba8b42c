import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { ferryArgv, REPO_ROOT } from "../helpers/cli.js";
import { pseudoRandomBytes } from "../helpers/tmp.js";
import { writeTree } from "../sync/treeUtil.js";
import { cliSetup } from "./cliSetup.js";

/** Run ferry with binary stdin and capture binary stdout. */
function runBinary(args: string[], env: NodeJS.ProcessEnv, input?: Buffer): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  const [cmd, ...rest] = ferryArgv(...args) as [string, ...string[]];
  const child = spawn(cmd, rest, { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: "pipe" });
  const out: Buffer[] = [];
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => out.push(d));
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  child.stdin.end(input);
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout: Buffer.concat(out), stderr }));
  });
}

test("get URL - writes the file to stdout (summary on stderr); put - URL uploads stdin via the temporary name", async (t) => {
  const { base, server, env, ferry } = await cliSetup(t);
  const data = pseudoRandomBytes(3_000_000, 7);
  await writeTree(join(server.root, "d"), { "blob.bin": data });
  const got = await runBinary(["get", `${base}/d/blob.bin`, "-"], env);
  assert.equal(got.code, 0, got.stderr);
  assert.ok(got.stdout.equals(data), `stdout holds the file (${got.stdout.length} bytes)`);
  assert.match(got.stderr, /downloaded .*blob\.bin → stdout: 2\.9 MiB in .* verified by SHA-256/);

  const put = await runBinary(["put", "-", `${base}/up/deep/from-stdin.bin`], env, data);
  assert.equal(put.code, 0, put.stderr);
  assert.match(put.stdout.toString(), /uploaded stdin → .*from-stdin\.bin: 2\.9 MiB .*verified by size only/);
  assert.ok((await readFile(join(server.root, "up", "deep", "from-stdin.bin"))).equals(data));
  assert.deepEqual(await readdir(join(server.root, "up", "deep")), ["from-stdin.bin"], "no temporary left behind");

  const empty = await runBinary(["put", "-", `${base}/up/empty.bin`, "--json"], env, Buffer.alloc(0));
  assert.equal(empty.code, 0, empty.stderr);
  assert.equal((JSON.parse(empty.stdout.toString()) as { bytes: number }).bytes, 0);
  assert.equal((await readFile(join(server.root, "up", "empty.bin"))).length, 0);

  const missing = await runBinary(["get", `${base}/d/nope`, "-"], env);
  assert.equal(missing.code, 1);
  assert.equal(missing.stdout.length, 0);
  assert.match(missing.stderr, /no such file on the server/);

  for (const [args, message] of [
    [["get", `${base}/d/blob.bin`, "-", "--continue"], /stdout cannot be resumed/],
    [["get", `${base}/d/blob.bin`, "-", "--json"], /both want stdout/],
    [["put", "-", `${base}/up/`], /stdin has no name/],
  ] as const) {
    const r = await ferry([...args]);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, message);
  }
  const help = await ferry(["get", "--help"]);
  assert.match(help.stdout.replace(/\s+/g, " "), /"-" writes to stdout: no temporary file is possible/);
});
