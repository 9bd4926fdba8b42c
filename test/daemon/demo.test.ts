import assert from "node:assert/strict";
import { createServer } from "node:net";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { spawnSync } from "node:child_process";
import { REPO_ROOT, spawnFerry } from "../helpers/cli.js";
import { tempDir } from "../helpers/tmp.js";
import { exists, waitUntil } from "./harness.js";

/** A free loopback port (bound, then released). */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
  const port = (s.address() as { port: number }).port;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

describe("ferry demo", () => {
  it("starts server and daemon, says what to do, delivers a dropped file, and stops cleanly on SIGINT", { timeout: 60_000 }, async () => {
    const dir = await tempDir("ferry-demo-");
    const child = spawnFerry(["demo", "--dir", dir.path, "--port", String(await freePort())], { FERRY_LOG_LEVEL: "warn" });
    let out = "";
    let err = "";
    child.stdout!.setEncoding("utf8").on("data", (d: string) => (out += d));
    child.stderr!.setEncoding("utf8").on("data", (d: string) => (err += d));
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    try {
      await waitUntil(() => out.includes("Ctrl-C stops both"), { timeoutMs: 30_000, what: "the demo banner", onTimeout: () => out + err });
      assert.match(out, /drop a file into \S*var\/demo\/outbox and watch it arrive in \S*var\/demo\/server\/inbox/);
      // The banner's status line works pasted as printed, in the folder the demo was started in.
      const statusLine = /in another terminal: (.+)/.exec(out)?.[1];
      assert.ok(statusLine, out);
      const status = spawnSync("sh", ["-c", statusLine], { cwd: REPO_ROOT, encoding: "utf8" });
      assert.equal(status.status, 0, `${statusLine}: ${status.stderr}`);
      assert.match(status.stdout, /daemon: running/);
      await writeFile(join(dir.path, "var", "demo", "outbox", "hello.txt"), "hello, ferry\n");
      await waitUntil(() => out.includes("arrived:"), { timeoutMs: 20_000, what: "the arrival line", onTimeout: () => out + err });
      assert.ok(await exists(join(dir.path, "var", "demo", "server", "inbox", "hello.txt")));
      assert.ok(await exists(join(dir.path, "var", "demo", "sent", "hello.txt")));
      await waitUntil(() => exists(join(dir.path, "var", "demo", "server", "photos", "README.txt")), { timeoutMs: 20_000, what: "the sample mirror" });
      child.kill("SIGINT");
      assert.equal(await exited, 0, out + err);
      assert.match(out, /ferry demo: stopped/);
    } finally {
      child.kill("SIGKILL");
      await dir.remove();
    }
  });
});
