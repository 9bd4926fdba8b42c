import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runFerry, spawnFerry } from "../helpers/cli.js";
import { findPeer, requirePeer } from "../helpers/peers.js";
import { pseudoRandomBytes, tempDir } from "../helpers/tmp.js";

/** `ferry serve` with TLS flags, and `ferry ls/get/put` over ftpes:// and ftps:// with --ca / --insecure. */
describe("cli: ferry serve over TLS, ferry ls/get/put with ftpes:// and ftps://", () => {
  let dir: { path: string; remove: () => Promise<void> };
  let child: ChildProcess | undefined;
  let port = 0;
  let implicitPort = 0;
  let stderr = "";
  const data = pseudoRandomBytes(700_000, 31);

  before(async () => {
    dir = await tempDir();
    await writeFile(join(dir.path, "file.bin"), data);
    if (!findPeer("openssl")) return;
    child = spawnFerry(["serve", "--port", "0", "--root", dir.path, "--user", "u:p", "--tls-self-signed", `${dir.path}-cert`,
      "--implicit-tls-port", "0", "--tls-require-login", "--tls-require-data"], { FERRY_LOG_LEVEL: "info" });
    child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    for (let i = 0; i < 300 && !implicitPort; i++) {
      port = Number(/"event":"server\.listen"[^\n]*"port":(\d+),"tls":"explicit"/.exec(stderr)?.[1] ?? 0);
      implicitPort = Number(/"event":"server\.listen"[^\n]*"port":(\d+),"tls":"implicit"/.exec(stderr)?.[1] ?? 0);
      if (child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    if (!implicitPort) throw new Error(`ferry serve did not start: ${stderr}`);
  });
  after(async () => {
    if (child && child.exitCode === null) {
      child.kill("SIGTERM");
      await once(child, "exit");
    }
    await dir.remove();
    const { rm } = await import("node:fs/promises");
    await rm(`${dir.path}-cert`, { recursive: true, force: true });
  });

  const ca = () => join(`${dir.path}-cert`, "cert.pem");

  it("--tls-self-signed warns loudly; an untrusted certificate fails with exit 3, --ca and --insecure work", async (t) => {
    if (!requirePeer(t, "openssl", "apt-get install -y openssl")) return;
    assert.match(stderr, /WARNING: ferry serve is using a SELF-SIGNED certificate/);
    const url = `ftpes://u:p@127.0.0.1:${port}/`;
    const untrusted = await runFerry(["ls", url]);
    assert.equal(untrusted.code, 3, untrusted.stderr);
    assert.match(untrusted.stderr, /self[- ]signed|certificate/i);
    const trusted = await runFerry(["ls", "--ca", ca(), url]);
    assert.equal(trusted.code, 0, trusted.stderr);
    assert.equal(trusted.stdout, "file.bin\n");
    const insecure = await runFerry(["ls", "--insecure", `ftps://u:p@127.0.0.1:${implicitPort}/`]);
    assert.equal(insecure.code, 0, insecure.stderr);
    assert.match(insecure.stderr, /WARNING: --insecure/);
    const plain = await runFerry(["ls", `ftp://u:p@127.0.0.1:${port}/`]);
    assert.equal(plain.code, 3);
    assert.match(plain.stderr, /530 TLS required/);
    const mixed = await runFerry(["ls", "--ca", ca(), `ftp://u:p@127.0.0.1:${port}/`]);
    assert.equal(mixed.code, 2);
  });

  it("get over ftps:// and put over ftpes://, bytes compared", async (t) => {
    if (!requirePeer(t, "openssl", "apt-get install -y openssl")) return;
    const out = await tempDir();
    try {
      const got = await runFerry(["get", "--ca", ca(), `ftps://u:p@127.0.0.1:${implicitPort}/file.bin`, join(out.path, "got.bin")]);
      assert.equal(got.code, 0, got.stderr);
      assert.deepEqual(await readFile(join(out.path, "got.bin")), data);
      const put = await runFerry(["put", "--ca", ca(), join(out.path, "got.bin"), `ftpes://u:p@127.0.0.1:${port}/put.bin`]);
      assert.equal(put.code, 0, put.stderr);
      assert.deepEqual(await readFile(join(dir.path, "put.bin")), data);
    } finally {
      await out.remove();
    }
  });

  it("mirror up and down over ftpes:// with --ca; refused without it (exit 3)", async (t) => {
    if (!requirePeer(t, "openssl", "apt-get install -y openssl")) return;
    const src = await tempDir();
    const back = await tempDir();
    try {
      await mkdir(join(src.path, "sub"), { recursive: true });
      await writeFile(join(src.path, "sub", "a.bin"), data);
      await writeFile(join(src.path, "b.txt"), "over TLS\n");
      const env = { FERRY_STATE_DIR: join(src.path, "..", `state-${port}`) };
      const remote = `ftpes://u:p@127.0.0.1:${port}/mirrored`;
      const refused = await runFerry(["mirror", src.path, remote], { env });
      assert.equal(refused.code, 3, refused.stderr);
      const up = await runFerry(["mirror", "--ca", ca(), src.path, remote], { env });
      assert.equal(up.code, 0, up.stderr);
      assert.deepEqual(await readFile(join(dir.path, "mirrored", "sub", "a.bin")), data);
      const down = await runFerry(["mirror", "--ca", ca(), remote, back.path], { env });
      assert.equal(down.code, 0, down.stderr);
      assert.deepEqual(await readFile(join(back.path, "sub", "a.bin")), data);
      assert.equal(await readFile(join(back.path, "b.txt"), "utf8"), "over TLS\n");
    } finally {
      await src.remove();
      await back.remove();
    }
  });

  it("serve --config with a server.tls section (paths relative to the file) and per-user requireTlsLogin", async (t) => {
    if (!requirePeer(t, "openssl", "apt-get install -y openssl")) return;
    const { hashPassword } = await import("../../src/server/index.js");
    const { copyFile, mkdir } = await import("node:fs/promises");
    const cfgDir = join(`${dir.path}-cert`, "cfg");
    await mkdir(cfgDir, { recursive: true });
    await copyFile(ca(), join(cfgDir, "c.pem"));
    await copyFile(join(`${dir.path}-cert`, "key.pem"), join(cfgDir, "k.pem"));
    await writeFile(join(cfgDir, "serve.yaml"), [
      "server:", "  listen: 127.0.0.1:0", `  root: ${JSON.stringify(dir.path)}`,
      `  users: [ { name: v, passwordHash: ${JSON.stringify(await hashPassword("w"))}, requireTlsLogin: true } ]`,
      "  tls: { cert: c.pem, key: k.pem, implicitPort: 0 }", "",
    ].join("\n"));
    const proc = spawnFerry(["serve", "--config", join(cfgDir, "serve.yaml")], { FERRY_LOG_LEVEL: "info" });
    let err = "";
    proc.stderr!.setEncoding("utf8").on("data", (d: string) => (err += d));
    try {
      let implicit = 0;
      let explicit = 0;
      for (let i = 0; i < 300 && !implicit; i++) {
        explicit = Number(/"event":"server\.listen"[^\n]*"port":(\d+),"tls":"explicit"/.exec(err)?.[1] ?? 0);
        implicit = Number(/"event":"server\.listen"[^\n]*"port":(\d+),"tls":"implicit"/.exec(err)?.[1] ?? 0);
        if (proc.exitCode !== null) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(implicit, err);
      const ok = await runFerry(["ls", "--ca", ca(), `ftps://v:w@127.0.0.1:${implicit}/`]);
      assert.equal(ok.code, 0, ok.stderr);
      assert.match(ok.stdout, /file\.bin/);
      const plain = await runFerry(["ls", `ftp://v:w@127.0.0.1:${explicit}/`]);
      assert.equal(plain.code, 3);
      assert.match(plain.stderr, /530 TLS required/);
    } finally {
      proc.kill("SIGTERM");
      await once(proc, "exit");
    }
  });

  it("serve refuses half a TLS setup with exit 2 and a message naming the fix", async () => {
    const r = await runFerry(["serve", "--port", "0", "--root", dir.path, "--user", "u:p", "--tls-cert", join(dir.path, "file.bin")]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /both --tls-cert FILE and --tls-key FILE/);
    const r2 = await runFerry(["serve", "--port", "0", "--root", dir.path, "--user", "u:p", "--tls-require-login"]);
    assert.equal(r2.code, 2);
    assert.match(r2.stderr, /need a certificate/);
    const r3 = await runFerry(["serve", "--port", "0", "--root", dir.path, "--user", "u:p", "--tls-cert", join(dir.path, "file.bin"), "--tls-key", join(dir.path, "file.bin")]);
    assert.equal(r3.code, 2);
    assert.match(r3.stderr, /TLS certificate\/key/);
  });
});
