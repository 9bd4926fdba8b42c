import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Authenticator, FtpServer } from "../../src/server/index.js";
import { runFerry } from "../helpers/cli.js";
import { pseudoRandomBytes, tempDir } from "../helpers/tmp.js";
import { DaemonProcess, readQueue, readTree, testConfig, waitUntil } from "../daemon/harness.js";

/**
 * C6, I15 (issue 12 failure #9): a wrong password must not be hammered. Five jobs (four outbox
 * files and a mirror) against one remote whose server refuses the login: one login try per
 * backoff window across all jobs, no attempt used (2 attempts would be gone in a second), and
 * `ferry status` shows the remote as "login refused" with the server's reply. Once the server
 * accepts the login, the state clears and everything is delivered.
 */
describe("C6: a refused login (530) is not hammered", () => {
  let dir: { path: string; remove: () => Promise<void> };
  let server: FtpServer;
  let daemon: DaemonProcess | undefined;
  const p = (...parts: string[]) => join(dir.path, ...parts);
  /** Every login the server checked, with its result and time. */
  const logins: { ok: boolean; at: number }[] = [];
  let accept = false;

  before(async () => {
    dir = await tempDir("ferry-c6-");
    await mkdir(p("srv"));
    await mkdir(p("outbox"));
    await mkdir(p("msrc"));
    const authenticator = await Authenticator.create({ root: p("srv"), users: [{ name: "user", password: "right", readOnly: false }], anonymous: false });
    const verify = authenticator.verify.bind(authenticator);
    // The server counts each PASS it checks; "accept" plays the admin resetting the password
    // to the one the daemon has.
    authenticator.verify = async (name: string, password: string) => {
      try {
        const principal = await verify(name, accept ? "right" : password);
        logins.push({ ok: true, at: Date.now() });
        return principal;
      } catch (err) {
        logins.push({ ok: false, at: Date.now() });
        throw err;
      }
    };
    server = new FtpServer({ authenticator, host: "127.0.0.1", port: 0 });
    const port = await server.listen();
    for (let i = 0; i < 4; i++) await writeFile(p("outbox", `f${i}.bin`), pseudoRandomBytes(10_000 + i, i + 1));
    await writeFile(p("msrc", "m.txt"), "mirrored\n");
    await writeFile(p("ferry.json"), testConfig({
      dir: dir.path, url: `ftp://user:wrong@127.0.0.1:${port}/`,
      extra: { retry: { attempts: 2, initialDelay: "100ms", maxDelay: "1s", jitter: 0, loginDelay: "1500ms", loginMaxDelay: "3s" } },
      jobs: [
        { name: "outbox", kind: "upload", watch: "./outbox", target: "srv:/inbox", stable: "100ms", after: "delete" },
        { name: "mirror", kind: "mirror", source: "./msrc", target: "srv:/mirror", schedule: "* * * * * *" },
      ],
    }));
  });

  after(async () => {
    await daemon?.stop();
    await server?.close(0);
    await dir?.remove();
  });

  it("one login try per backoff window, status says 'login refused', a later login clears it", { timeout: 60_000 }, async () => {
    daemon = new DaemonProcess(p("ferry.json"));
    await daemon.waitForLog("daemon ready");
    await waitUntil(() => logins.length > 0, { timeoutMs: 10_000, what: "the first login", exited: daemon });
    const first = logins[0]!.at;
    await waitUntil(() => Date.now() - first > 2500, { timeoutMs: 5000, what: "2.5 s after the first refused login" });
    const inWindow = logins.filter((l) => l.at - first <= 2500);
    assert.ok(inWindow.every((l) => !l.ok));
    // The first try and, 1.5 s later, the second: not one per job (5) per 100 ms retry.
    assert.ok(inWindow.length >= 1 && inWindow.length <= 2, `${inWindow.length} failed logins in 2.5 s`);

    const st = await runFerry(["status", "--config", p("ferry.json"), "--json"], { timeoutMs: 30_000 });
    assert.equal(st.code, 0, st.stderr);
    const s = JSON.parse(st.stdout) as { remotesDown: { remote: string; reason: string; lastError: string }[]; jobs: { name: string; remoteDown: { reason: string } | null }[] };
    assert.equal(s.remotesDown.length, 1);
    assert.equal(s.remotesDown[0]!.remote, "srv");
    assert.equal(s.remotesDown[0]!.reason, "login refused");
    assert.match(s.remotesDown[0]!.lastError, /530 Login incorrect/);
    assert.equal(s.jobs.find((j) => j.name === "outbox")?.remoteDown?.reason, "login refused");
    const text = await runFerry(["status", "--config", p("ferry.json")], { timeoutMs: 30_000 });
    assert.match(text.stdout, /remote srv: LOGIN REFUSED since .*530 Login incorrect.*fix the user or password/);
    assert.ok(daemon.lines.some((l) => l.event === "remote.login-refused" && l.level === "error"), "logged loudly, at error level");
    assert.equal(readQueue(p("var", "ferry.db")).dead, 0, "no job used up its 2 attempts");

    accept = true;
    await waitUntil(async () => {
      const tree = await readTree(p("srv"));
      return [0, 1, 2, 3].every((i) => tree.get(join("inbox", `f${i}.bin`))?.equals(pseudoRandomBytes(10_000 + i, i + 1))) && tree.has(join("mirror", "m.txt"));
    }, { timeoutMs: 20_000, what: "every file once the login is accepted", exited: daemon, onTimeout: () => daemon!.stderr.slice(-3000) });
    await waitUntil(async () => {
      const after = JSON.parse((await runFerry(["status", "--config", p("ferry.json"), "--json"], { timeoutMs: 30_000 })).stdout) as { remotesDown: unknown[] };
      return after.remotesDown.length === 0;
    }, { timeoutMs: 10_000, what: "status to clear the login state" });
    assert.ok(daemon.messages("remote accepts the login again").length >= 1);
    assert.equal(readQueue(p("var", "ferry.db")).dead, 0);
  });
});
