import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { ChildProcess } from "node:child_process";
import { runFerry, spawnFerry } from "../helpers/cli.js";
import { tempDir } from "../helpers/tmp.js";
import { RawClient } from "../server/rawClient.js";

// The A15 limits are settings of `ferry serve`: flags and server.limits in the config file.
describe("A15: ferry serve takes the login timeout and the waiting-session caps from flags and config", () => {
  const children: ChildProcess[] = [];
  const dirs: Array<{ remove: () => Promise<void> }> = [];
  after(async () => {
    for (const c of children) c.kill("SIGKILL");
    for (const d of dirs) await d.remove();
  });

  async function startServe(args: string[]): Promise<number> {
    const child = spawnFerry(["serve", "--port", "0", ...args], { FERRY_LOG_LEVEL: "info" });
    children.push(child);
    let err = "";
    child.stderr!.setEncoding("utf8").on("data", (d: string) => (err += d));
    for (let i = 0; i < 300; i++) {
      const m = /"event":"server\.listen".*?"port":(\d+)/.exec(err);
      if (m) return Number(m[1]);
      if (child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`ferry serve did not start: ${err}`);
  }

  it("server.limits.loginTimeoutMs from the config and --max-unauthenticated-per-address from the command line", async () => {
    const dir = await tempDir("ferry-a15-cli-");
    dirs.push(dir);
    const cfg = join(dir.path, "serve.yaml");
    await writeFile(cfg, `server:\n  root: ${JSON.stringify(dir.path)}\n  limits:\n    loginTimeoutMs: 700\n`);
    const port = await startServe(["--config", cfg, "--user", "u:p", "--max-unauthenticated-per-address", "1"]);
    const { client, greeting } = await RawClient.connect(port);
    assert.equal(greeting?.code, 220);
    const second = await RawClient.connect(port);
    assert.equal(second.greeting?.code, 421, "one session waiting to log in per address");
    second.client.close();
    const t0 = Date.now();
    assert.equal((await client.send("NOOP"))?.code, 200);
    const r = await client.next(10_000);
    assert.equal(r?.code, 421);
    assert.match(r?.lines.join(" ") ?? "", /Login timeout \(0\.7 s\)/);
    assert.ok(Date.now() - t0 < 5000);
    client.close();
    const child = children.at(-1)!;
    child.kill("SIGTERM");
    await once(child, "exit");
  });

  for (const b of [
    { args: ["--login-timeout", "0"], message: /--login-timeout 0: expected seconds above 0/ },
    { args: ["--login-timeout", "soon"], message: /--login-timeout soon: expected seconds/ },
    { args: ["--max-unauthenticated", "0"], message: /--max-unauthenticated 0: expected a whole number of at least 1/ },
    { args: ["--max-unauthenticated-per-address", "-3"], message: /expected a whole number/ },
  ]) {
    it(`serve ${b.args.join(" ")} -> exit 2 naming the fix`, async () => {
      const r = await runFerry(["serve", "--root", ".", "--user", "a:b", ...b.args], { timeoutMs: 30_000 });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, b.message);
    });
  }
});
