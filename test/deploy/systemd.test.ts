import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { REPO_ROOT, spawnFerry } from "../helpers/cli.js";
import { inCI } from "../helpers/peers.js";
import { tempDir } from "../helpers/tmp.js";

const UNITS = ["ferry.service", "ferry-serve.service"] as const;

/** A unit file's [Service] settings, each key with every value it was given. */
async function serviceSettings(unit: string): Promise<Map<string, string[]>> {
  const text = await readFile(join(REPO_ROOT, "deploy", unit), "utf8");
  const out = new Map<string, string[]>();
  let section = "";
  for (const line of text.split("\n")) {
    const s = /^\[(\w+)\]$/.exec(line.trim());
    if (s) section = s[1]!;
    const kv = /^(\w+)=(.*)$/.exec(line);
    if (kv && section === "Service") out.set(kv[1]!, [...(out.get(kv[1]!) ?? []), kv[2]!]);
  }
  return out;
}

/** systemd-analyze, or a skip (a loud failure under CI=true: .ci/run installs systemd). */
function requireAnalyze(t: TestContext): boolean {
  if (spawnSync("systemd-analyze", ["--version"]).status === 0) return true;
  if (inCI) assert.fail("systemd-analyze is missing: install the systemd package (apt-get install systemd), as .ci/run does");
  t.skip("systemd-analyze not installed (apt-get install systemd)");
  return false;
}

describe("systemd units", () => {
  it("systemd-analyze verify passes, with no warning (works without systemd running: verify only loads the files)", async (t) => {
    if (!requireAnalyze(t)) return;
    const tmp = await tempDir();
    t.after(() => tmp.remove());
    const files: string[] = [];
    for (const unit of UNITS) {
      // verify checks that ExecStart's program exists: point it at this machine's node when it is not /usr/bin/node.
      const text = (await readFile(join(REPO_ROOT, "deploy", unit), "utf8")).replaceAll("/usr/bin/node ", `${process.execPath} `);
      await writeFile(join(tmp.path, unit), text);
      files.push(join(tmp.path, unit));
    }
    const r = spawnSync("systemd-analyze", ["verify", ...files], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr.trim(), "", "no warnings");
  });

  for (const unit of UNITS) {
    it(`${unit}: notify readiness, restart on failure, hardening, secrets through LoadCredential=`, async () => {
      const s = await serviceSettings(unit);
      const one = (k: string) => s.get(k)?.at(-1);
      assert.equal(one("Type"), "notify");
      assert.equal(one("NotifyAccess"), "all", "ferry's child systemd-notify sends the READY message");
      assert.equal(one("Restart"), "on-failure");
      assert.equal(one("ProtectSystem"), "strict");
      assert.equal(one("NoNewPrivileges"), "yes");
      assert.ok(one("DynamicUser") === "yes" || one("User") === "ferry", "runs as an unprivileged user");
      assert.ok((s.get("ReadWritePaths") ?? []).join(" ").trim() !== "", "writable where it works");
      assert.match((s.get("Environment") ?? []).join(" "), /\bMALLOC_ARENA_MAX=2\b/);
      assert.equal(one("CapabilityBoundingSet"), unit === "ferry-serve.service" ? "CAP_NET_BIND_SERVICE" : "");
      // Every ${VAR} of the config the unit runs has a credential, and every credential a ${VAR}.
      const exec = one("ExecStart")!;
      const config = /--config \/etc\/ferry\/(\w+)\.yaml/.exec(exec)![1]!;
      const example = await readFile(join(REPO_ROOT, "config", `${config === "ferry" ? "ferry" : "serve"}.example.yaml`), "utf8");
      const used = new Set([...example.split("\n").filter((l) => !l.trimStart().startsWith("#")).join("\n").matchAll(/(?<!\$)\$\{(\w+)\}/g)].map((m) => m[1]!));
      const credentials = new Set((s.get("LoadCredential") ?? []).map((c) => c.split(":")[0]!));
      assert.ok(used.size > 0);
      assert.deepEqual([...credentials].sort(), [...used].sort(), `LoadCredential= of ${unit} matches the \${VAR}s of the example config`);
    });
  }

  it("ferry serve tells systemd it is ready (NOTIFY_SOCKET) and reads its secret from $CREDENTIALS_DIRECTORY", async (t) => {
    if (spawnSync("systemd-notify", ["--help"]).status !== 0) {
      if (inCI) assert.fail("systemd-notify is missing: install the systemd package");
      t.skip("systemd-notify not installed");
      return;
    }
    const tmp = await tempDir();
    t.after(() => tmp.remove());
    const socket = join(tmp.path, "notify");
    // systemd's side of sd_notify: a unix datagram socket (Node has none; python3 does).
    const receiver = spawn("python3", ["-c", `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("bound", flush=True)
s.settimeout(60)
while True:
    data = s.recv(65536)  # passed descriptors (systemd-notify's barrier) are closed: the barrier completes
    print(data.decode(errors="replace").replace("\\n", " "), flush=True)
`, socket], { stdio: ["ignore", "pipe", "inherit"] });
    t.after(() => { receiver.kill(); });
    let received = "";
    receiver.stdout.setEncoding("utf8").on("data", (d: string) => (received += d));
    for (let i = 0; i < 200 && !received.includes("bound"); i++) await new Promise((r) => setTimeout(r, 25));
    assert.match(received, /bound/);

    const creds = join(tmp.path, "credentials");
    await mkdir(creds);
    await writeFile(join(creds, "FERRY_READER_HASH"), "scrypt$16384$8$1$1GYEmvgiIWuE8CmTa6aZ/A==$Mz5XuBGjFuPSMzYC3Lcs/DaTnjLvIVVubgOhoR9bjv8=\n");
    await writeFile(join(tmp.path, "serve.yaml"), `server: { root: ${JSON.stringify(tmp.path)}, users: [ { name: reader, passwordHash: "\${FERRY_READER_HASH}", readOnly: true } ] }\n`);
    // FERRY_READER_HASH empty-valued would win over the file: the test's environment must not set it.
    assert.equal(process.env.FERRY_READER_HASH, undefined);
    const env: NodeJS.ProcessEnv = { NOTIFY_SOCKET: socket, CREDENTIALS_DIRECTORY: creds, FERRY_LOG_LEVEL: "debug" };
    const server = spawnFerry(["serve", "--config", join(tmp.path, "serve.yaml"), "--port", "0"], env);
    t.after(() => { server.kill("SIGKILL"); });
    let log = "";
    server.stderr!.setEncoding("utf8").on("data", (d: string) => (log += d));
    for (let i = 0; i < 1200 && !received.includes("READY=1") && server.exitCode === null; i++) await new Promise((r) => setTimeout(r, 25));
    assert.match(received, /READY=1/, `no READY=1 on NOTIFY_SOCKET; ferry said:\n${log}`);
    assert.match(received, /STATUS=ferry ready/);
    for (let i = 0; i < 200 && !log.includes("systemd.notified"); i++) await new Promise((r) => setTimeout(r, 25));
    assert.match(log, /"event":"systemd\.notified"/, "systemd-notify exited 0 (its barrier completed)");
    assert.match(log, /"users":\["reader"\]/, "the user's hash came from the credential file");
    server.kill("SIGTERM");
  });
});
