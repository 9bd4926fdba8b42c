import { test } from "node:test";
import assert from "node:assert/strict";
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { FtpTimeoutError } from "../../src/client/index.js";
import { connectionHint, listenHint } from "../../src/cli/hints.js";
import { ferryArgv, REPO_ROOT } from "../helpers/cli.js";
import { cliSetup } from "./cliSetup.js";

test("connection errors carry a hint: refused, unknown host, timeout", async (t) => {
  const { ferry, tmp } = await cliSetup(t);
  const refused = await ferry(["ls", "ftp://u:p@127.0.0.1:1/"]);
  assert.equal(refused.code, 3);
  assert.match(refused.stderr, /ECONNREFUSED.*; nothing accepts connections on 127\.0\.0\.1:1: is the FTP server running, and is the port right/);
  const unknown = await ferry(["get", "ftp://u:p@no-such-host.invalid/f", join(tmp.path, "f")]);
  assert.equal(unknown.code, 3);
  assert.match(unknown.stderr, /the host name no-such-host\.invalid (is not known: is it spelled right|could not be looked up now)/);
  const timeout = new FtpTimeoutError("127.0.0.1:9: no connection and greeting within 15000 ms");
  assert.match(connectionHint(timeout, { host: "h", port: 9 }) ?? "", /no answer from h:9: is the host up, is the port right, or does a firewall/);
  assert.match(connectionHint(Object.assign(new Error("x"), { code: "ETIMEDOUT" }), { host: "h", port: 9 }) ?? "", /no answer from h:9/);
  assert.equal(connectionHint(new Error("530 Login incorrect"), { host: "h", port: 21 }), undefined);
  assert.match(listenHint(Object.assign(new Error("listen EACCES"), { code: "EACCES" }), 21) ?? "", /root or the CAP_NET_BIND_SERVICE capability/);
  assert.equal(listenHint(Object.assign(new Error("listen EACCES"), { code: "EACCES" }), 2121), undefined);
});

test("ftp:/host (one slash) is refused by every command that takes a URL", async (t) => {
  const { ferry, tmp } = await cliSetup(t);
  await writeFile(join(tmp.path, "f"), "x");
  for (const args of [["ls", "ftp:/127.0.0.1/"], ["get", "ftp:/127.0.0.1/f", tmp.path], ["put", join(tmp.path, "f"), "ftp:/127.0.0.1/f"],
    ["mirror", "ftp:/127.0.0.1/d", join(tmp.path, "m")], ["mirror", tmp.path, "ftps:127.0.0.1/d"]]) {
    const r = await ferry(args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, /the scheme must be followed by two slashes and a host, as in ftps?:\/\/host\/path/, args.join(" "));
  }
});

test("ferry serve on a port below 1024 as non-root says it needs root or CAP_NET_BIND_SERVICE", async (t) => {
  if (process.getuid?.() !== 0) {
    if (process.env.CI === "true") assert.fail("this test needs root (runuser) in CI");
    t.skip("needs root to run as nobody");
    return;
  }
  const { tmp } = await cliSetup(t);
  const root = join(tmp.path, "srv");
  await mkdir(root);
  await chmod(tmp.path, 0o755);
  const child = spawn("runuser", ["-u", "nobody", "--", ...ferryArgv("serve", "--root", root, "--user", "u:p", "--port", "21")], { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  const code = await new Promise<number | null>((resolve, reject) => { child.on("error", reject); child.on("close", resolve); });
  assert.equal(code, 2, stderr);
  assert.match(stderr, /ferry: cannot listen on 127\.0\.0\.1:21: .*EACCES.*; ports below 1024 need root or the CAP_NET_BIND_SERVICE capability/);
  assert.equal(stderr.trim().split("\n").length, 1, `said once, not also as a log line: ${stderr}`);
});

test(".netrc readable by others: one warning line on stderr, still used; a private one: no warning", async (t) => {
  const { ferry, server, tmp } = await cliSetup(t);
  const netrc = join(tmp.path, "netrc");
  await writeFile(netrc, `machine 127.0.0.1 login user password pass\n`);
  await chmod(netrc, 0o644);
  const open = await ferry(["ls", `ftp://127.0.0.1:${server.port}/`], { env: { NETRC: netrc } });
  assert.equal(open.code, 0, open.stderr);
  const lines = open.stderr.split("\n").filter(Boolean);
  assert.equal(lines.length, 1, open.stderr);
  assert.match(lines[0]!, new RegExp(`^ferry: warning: ${netrc} is accessible by group or others \\(mode 0644\\): .*chmod 600`));
  await chmod(netrc, 0o600);
  const closed = await ferry(["ls", `ftp://127.0.0.1:${server.port}/`], { env: { NETRC: netrc } });
  assert.equal(closed.code, 0, closed.stderr);
  assert.equal(closed.stderr, "");
});
