import assert from "node:assert/strict";
import { createWriteStream } from "node:fs";
import { createHash } from "node:crypto";
import { mkdir, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { pseudoRandomBytes, sha256File, tempDir } from "../helpers/tmp.js";
import { stat } from "node:fs/promises";
import { DaemonProcess, exists, readQueue, RestartableServer, testConfig, waitUntil } from "./harness.js";

describe("daemon lifecycle", () => {
  let dir: { path: string; remove: () => Promise<void> };
  let server: RestartableServer;
  const p = (...parts: string[]) => join(dir.path, ...parts);

  before(async () => {
    dir = await tempDir("ferry-graceful-");
    await mkdir(p("srv"));
    await mkdir(p("outbox"));
    server = new RestartableServer(p("srv"));
    await server.start();
    await writeFile(p("ferry.json"), testConfig({
      dir: dir.path, url: server.url, extra: { shutdownGrace: "30s" },
      jobs: [{ name: "outbox", kind: "upload", watch: "./outbox", target: "srv:/inbox", stable: "100ms", after: "delete" }],
    }));
  });

  after(async () => {
    await server?.stop();
    await dir?.remove();
  });

  it("SIGTERM during an upload lets it finish, records it, and exits 0", { timeout: 90_000 }, async () => {
    // Big enough that the upload (and both checksums) is still running when the signal lands.
    const big = p("tmp-big.bin");
    const out = createWriteStream(big);
    const chunk = pseudoRandomBytes(1 << 20, 42);
    for (let i = 0; i < 160; i++) if (!out.write(chunk)) await new Promise<void>((r) => out.once("drain", () => r()));
    await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
    const daemon = new DaemonProcess(p("ferry.json"));
    await daemon.waitForLog("daemon ready");
    await rename(big, p("outbox", "big.bin"));
    await daemon.waitForLog("job started", 20_000);
    daemon.kill("SIGTERM");
    const r = await daemon.exited;
    assert.equal(r.code, 0, daemon.stderr.slice(-2000));
    const order = daemon.lines.map((l) => l.msg);
    assert.ok(order.indexOf("SIGTERM: stopping") >= 0);
    assert.ok(order.indexOf("job succeeded") > order.indexOf("SIGTERM: stopping"), `the upload finished after the signal, within the grace period:\n${order.join("\n")}`);
    assert.ok(await exists(p("srv", "inbox", "big.bin")));
    assert.equal(await exists(p("outbox", "big.bin")), false, "after-action applied");
    const expected = createHash("sha256");
    for (let i = 0; i < 160; i++) expected.update(chunk);
    assert.equal(await sha256File(p("srv", "inbox", "big.bin")), expected.digest("hex"));
    const q = readQueue(p("var", "ferry.db"));
    assert.equal(q.leased, 0);
    assert.equal(q.done, 1);
  });
  it("after: keep — a restart finds the kept file already on the server and does not send it again", { timeout: 60_000 }, async () => {
    const cfg = p("keep.json");
    await mkdir(p("keep-outbox"));
    await writeFile(cfg, testConfig({
      dir: join(dir.path, "keep"), url: server.url,
      jobs: [{ name: "kept", kind: "upload", watch: "./keep-outbox", target: "srv:/kept", stable: "100ms", after: "keep" }],
    }));
    let daemon = new DaemonProcess(cfg);
    await daemon.waitForLog("daemon ready");
    await writeFile(p("keep-outbox", "k.txt"), "kept and sent once\n");
    await waitUntil(() => exists(p("srv", "kept", "k.txt")), { timeoutMs: 20_000, what: "k.txt on the server", exited: daemon });
    await waitUntil(() => daemon.messages("job succeeded").length === 1, { timeoutMs: 10_000, what: "the job to finish", exited: daemon });
    assert.equal((await daemon.stop()).code, 0);
    const before = await stat(p("srv", "kept", "k.txt"));
    daemon = new DaemonProcess(cfg);
    await daemon.waitForLog("daemon ready");
    await daemon.waitForLog("already on the server with the same bytes; not sent again", 20_000);
    await waitUntil(() => daemon.messages("job succeeded").length === 1, { timeoutMs: 10_000, what: "the check to finish", exited: daemon });
    assert.equal((await daemon.stop()).code, 0);
    const after = await stat(p("srv", "kept", "k.txt"));
    assert.equal(after.ino, before.ino, "the server's file was not replaced");
    assert.equal(readQueue(join(dir.path, "keep", "var", "ferry.db")).transfers.length, 1, "one transfer in the history");
    assert.ok(await exists(p("keep-outbox", "k.txt")), "kept");
  });
});
