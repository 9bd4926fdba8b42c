import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { HookTable, openDatabase, type HookDelivery } from "../../src/queue/index.js";

import { runFerry } from "../helpers/cli.js";
import { startRelay, type Relay } from "../helpers/relay.js";
import { pseudoRandomBytes, tempDir } from "../helpers/tmp.js";
import { DaemonProcess, readQueue, RestartableServer, testConfig, waitUntil } from "./harness.js";

function deliveries(database: string): HookDelivery[] {
  const db = openDatabase(database, { readonly: true });
  try {
    return new HookTable(db).list();
  } finally {
    db.close();
  }
}

const pathsOf = (ds: readonly HookDelivery[]) => ds.filter((d) => d.facts.event === "file.transferred").map((d) => d.facts.path);

describe("a mirror's file.transferred notifications are stored as each file is published", () => {
  let dir: { path: string; remove: () => Promise<void> };
  let server: RestartableServer;
  let relay: Relay;
  let daemon: DaemonProcess;
  const p = (...parts: string[]) => join(dir.path, ...parts);

  before(async () => {
    dir = await tempDir("ferry-mirror-hooks-");
    await mkdir(p("srv"));
    await mkdir(p("src"));
    await writeFile(p("src", "a.bin"), pseudoRandomBytes(20_000, 31));
    await writeFile(p("src", "b.bin"), pseudoRandomBytes(2 * 1024 * 1024, 32));
    server = new RestartableServer(p("srv"));
    await server.start();
    // b.bin's upload goes silent after its first 64 KiB: the run stays open (until the server's
    // 30 s data timeout) while a.bin is already on the server.
    relay = await startRelay({ targetPort: server.port, stallData: { afterBytes: 64 * 1024, on: /^STOR .*b\.bin/ } });
    await writeFile(p("ferry.json"), testConfig({
      dir: dir.path, url: server.url,
      extra: {
        remotes: { srv: { url: `ftp://${server.user.name}:${server.user.password}@127.0.0.1:${relay.port}/`, connections: 2 } },
        hooks: [{ name: "files", on: ["file.transferred"], command: [process.execPath, "-e", "0"] }],
      },
      jobs: [{ name: "held", kind: "mirror", source: "./src", target: "srv:/dst", schedule: "0 0 1 1 *", catchUp: false, parallel: 2 }],
    }));
    daemon = new DaemonProcess(p("ferry.json"));
    await daemon.waitForLog("daemon ready");
  });

  after(async () => {
    // Ends the held transfer at once, so the stop need not wait out the grace period.
    await relay?.close();
    await daemon?.stop();
    await server?.stop();
    await dir?.remove();
  });

  it("the first file's notification is stored while the run is still going", { timeout: 30_000 }, async () => {
    const r = await runFerry(["jobs", "run", "held", "--config", p("ferry.json")]);
    assert.equal(r.code, 0, r.stderr);
    const db = p("var", "ferry.db");
    await waitUntil(() => pathsOf(deliveries(db)).includes("/dst/a.bin"), { timeoutMs: 15_000, what: "a.bin's file.transferred notification", exited: daemon, onTimeout: () => `${JSON.stringify(deliveries(db).map((d) => d.facts))}\n${relay.commands.join("\n")}\n${daemon.stderr.slice(-3000)}` });
    // The run is held on b.bin: the notification did not wait for its end.
    assert.equal(relay.stalls, 1);
    assert.equal(readQueue(db).leased, 1, "the mirror run is still going");
    assert.deepEqual(pathsOf(deliveries(db)), ["/dst/a.bin"]);
    const a = deliveries(db).find((d) => d.facts.path === "/dst/a.bin")!;
    assert.equal(a.facts.bytes, 20_000);
    assert.equal(a.facts.source, p("src", "a.bin"));
  });
});
