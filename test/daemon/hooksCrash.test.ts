import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { HookTable, openDatabase } from "../../src/queue/index.js";
import type { HookDelivery } from "../../src/daemon/hooks/index.js";
import { HttpRecorder } from "../helpers/httpRecorder.js";
import { tempDir } from "../helpers/tmp.js";
import { DaemonProcess, RestartableServer, testConfig, waitUntil } from "./harness.js";

function deliveries(database: string): HookDelivery[] {
  const db = openDatabase(database, { readonly: true });
  try {
    return new HookTable(db).list();
  } finally {
    db.close();
  }
}

describe("hook notifications survive a crash; healthchecks ping fail", () => {
  let dir: { path: string; remove: () => Promise<void> };
  let server: RestartableServer;
  let rec: HttpRecorder;
  let daemon: DaemonProcess;
  const p = (...parts: string[]) => join(dir.path, ...parts);

  before(async () => {
    dir = await tempDir("ferry-hooks-crash-");
    await mkdir(p("srv"));
    await mkdir(p("outbox"));
    server = new RestartableServer(p("srv"));
    await server.start();
    rec = await new HttpRecorder().start();
  });

  after(async () => {
    daemon?.kill();
    await rec?.close();
    await server?.stop();
    await dir?.remove();
  });

  it("a notification pending when the daemon is SIGKILLed is delivered after the restart", { timeout: 60_000 }, async () => {
    let down = true;
    rec.status = (r) => (r.path === "/down" && down ? 503 : 200);
    await writeFile(p("ferry.json"), testConfig({
      dir: dir.path, url: server.url,
      extra: { retry: { attempts: 1 }, hooks: [{ name: "down", on: ["file.transferred"], webhook: { url: rec.url("/down") }, attempts: 100, retryDelay: "100ms", retryMaxDelay: "200ms" }] },
      jobs: [
        { name: "outbox", kind: "upload", watch: "./outbox", target: "srv:/inbox", stable: "100ms", after: "delete" },
        // Never scheduled in the test's lifetime; the catch-up runs it once at start, and it fails (no such local folder).
        { name: "broken", kind: "mirror", source: "./no-such-folder", target: "srv:/broken", schedule: "0 0 1 1 *", healthcheck: { url: rec.url("/hc/broken"), retryDelay: "100ms" } },
      ],
    }));
    daemon = new DaemonProcess(p("ferry.json"));
    await daemon.waitForLog("daemon ready");
    await writeFile(p("outbox", "x.txt"), "crash me\n");
    const db = p("var", "ferry.db");
    await waitUntil(() => deliveries(db).some((d) => d.hook === "down" && d.attempts >= 2), { timeoutMs: 20_000, what: "the webhook failing", exited: daemon });
    daemon.kill("SIGKILL");
    await daemon.exited;
    const pending = deliveries(db).find((d) => d.hook === "down")!;
    assert.equal(pending.state, "pending");
    down = false;
    daemon = new DaemonProcess(p("ferry.json"));
    await waitUntil(() => deliveries(db).find((d) => d.id === pending.id)?.state === "delivered", { timeoutMs: 20_000, what: "the delivery after the restart", exited: daemon });
    const accepted = rec.to("/down").filter((r) => r.headers["x-ferry-delivery"] === String(pending.id));
    assert.ok(accepted.length >= 3, "tried before the crash, delivered after it");
    assert.equal(JSON.parse(accepted.at(-1)!.body).path, "/inbox/x.txt");
    const r = await daemon.stop();
    assert.equal(r.code, 0, daemon.stderr.slice(-2000));
  });

  it("a failing run pings start, then fail with the error as the body", async () => {
    const pings = rec.requests.filter((r) => r.path.startsWith("/hc/broken"));
    assert.ok(pings.length >= 2, JSON.stringify(pings.map((r) => r.path)));
    // Each run (one at each start here) pings start, then fail: never a fail before its start.
    for (let i = 0; i < pings.length; i += 2) {
      assert.equal(pings[i]!.path, "/hc/broken/start");
      assert.equal(pings[i + 1]?.path, "/hc/broken/fail");
      assert.match(pings[i + 1]!.body, /no-such-folder|ENOENT/);
    }
  });
});
