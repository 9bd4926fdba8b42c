import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { writeTree } from "../sync/treeUtil.js";
import { ferryArgv, REPO_ROOT } from "../helpers/cli.js";
import { cliSetup } from "./cliSetup.js";

const jsonLines = (text: string) => text.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>);

test("-v/-vv/-q set the log level on any command, before or after it, over FERRY_LOG_LEVEL; logs off a TTY are JSON with ISO time and level names", async (t) => {
  const { ferry, base } = await cliSetup(t);
  const plain = await ferry(["ls", `${base}/`]);
  assert.equal(plain.code, 0, plain.stderr);
  assert.equal(plain.stderr, "", "the default level (warn) logs nothing on success");

  const debug = await ferry(["ls", "-vv", `${base}/`]);
  assert.equal(debug.code, 0, debug.stderr);
  const lines = jsonLines(debug.stderr);
  assert.ok(lines.length > 3, debug.stderr);
  for (const l of lines) {
    assert.equal(l.level, "debug");
    assert.match(String(l.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  }
  assert.ok(lines.some((l) => l.msg === "ftp >" && l.command === "USER user"));
  assert.doesNotMatch(debug.stderr, /PASS pass/, "the password is not logged");

  // Before the subcommand too, and over the environment.
  const before = await ferry(["-v", "-v", "ls", `${base}/`], { env: { FERRY_LOG_LEVEL: "error" } });
  assert.equal(before.code, 0, before.stderr);
  assert.ok(jsonLines(before.stderr).some((l) => l.level === "debug"));

  const quiet = await ferry(["ls", "-q", `${base}/`], { env: { FERRY_LOG_LEVEL: "debug" } });
  assert.equal(quiet.code, 0, quiet.stderr);
  assert.equal(quiet.stderr, "");

  const both = await ferry(["ls", "-q", "-v", `${base}/`]);
  assert.equal(both.code, 2);
  assert.match(both.stderr, /-q and -v together/);

  const help = await ferry(["get", "--help"]);
  assert.match(help.stdout, /-v, --verbose .*-vv debug/);
  assert.match(help.stdout, /-q, --quiet/);
});

test("-q: get prints no summary and no progress, errors still print; -n is --dry-run", async (t) => {
  const { ferry, base, server, tmp } = await cliSetup(t);
  await writeTree(join(server.root, "d"), { "a.txt": "aaa" });
  const quiet = await ferry(["get", "-q", `${base}/d/a.txt`, join(tmp.path, "a.txt")]);
  assert.equal(quiet.code, 0, quiet.stderr);
  assert.equal(quiet.stdout + quiet.stderr, "");
  const loud = await ferry(["get", `${base}/d/a.txt`, join(tmp.path, "b.txt")]);
  assert.match(loud.stdout, /^downloaded .*b\.txt: 3 B/);
  const missing = await ferry(["get", "-q", `${base}/d/nope`, tmp.path]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /no such file on the server/);

  const dry = await ferry(["mirror", "-n", `${base}/d`, join(tmp.path, "m")]);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /download +a\.txt/);
  assert.match(dry.stdout, /dry run: nothing was changed/);
});

test("on a TTY a log event is one line, without pid, hostname or app", async (t) => {
  const { base } = await cliSetup(t);
  // script(1) gives the command a pseudo-terminal, as a person's shell would.
  const cmd = ferryArgv("ls", "-vv", `${base}/`).map((a) => `'${a}'`).join(" ");
  const child = spawn("script", ["-qec", cmd, "/dev/null"], { cwd: REPO_ROOT, env: { ...process.env, NETRC: "", FERRY_PASSWORD: "" }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
  const status = await new Promise<number | null>((resolve, reject) => { child.on("error", reject); child.on("close", resolve); });
  assert.equal(status, 0, out);
  const text = out.replace(/\x1b\[[0-9;]*m/g, "");
  const events = text.split(/\r?\n/).filter((l) => /^\[\d\d:\d\d:\d\d\.\d{3}\] DEBUG/.test(l));
  assert.ok(events.length > 3, text);
  assert.ok(events.some((l) => /ftp > .*"command":"USER user"/.test(l)), text);
  assert.doesNotMatch(text, /"app"|app: "ferry"|\bpid\b|hostname/);
  assert.doesNotMatch(text, /^\s+\w+: /m, "no field on a line of its own");
});
