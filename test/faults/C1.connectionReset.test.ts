import assert from "node:assert/strict";
import { mkdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { startCutProxy, type CutProxy } from "../helpers/cutProxy.js";
import { pseudoRandomBytes, tempDir } from "../helpers/tmp.js";
import { DaemonProcess, listNames, readQueue, readTree, RestartableServer, testConfig, waitUntil } from "../daemon/harness.js";

// FAULTS.md C1, connection reset mid-transfer, seen from the daemon's queue: an outbox upload
// whose session (control and data) is cut after 1 MB. The job retries, resumes with REST,
// verifies, and publishes once: the final name never holds a partial file, the queue records
// exactly one success. (The mirror's resume both ways is test/sync/faults.test.ts; the cut
// download through `ferry get` is test/cli/transferCommands.test.ts.)

describe("C1 connection reset mid-upload, daemon outbox job", () => {
  let dir: { path: string; remove: () => Promise<void> };
  let server: RestartableServer;
  let proxy: CutProxy;
  let daemon: DaemonProcess;
  const p = (...parts: string[]) => join(dir.path, ...parts);

  before(async () => {
    dir = await tempDir("ferry-c1-");
    await mkdir(p("srv", "inbox"), { recursive: true });
    await mkdir(p("outbox"));
    server = new RestartableServer(p("srv"));
    await server.start();
    proxy = await startCutProxy({ targetPort: server.port, cutOn: /^STOR .*big\.bin/, cutAfterBytes: 1_000_000 });
    await writeFile(p("ferry.json"), testConfig({
      dir: dir.path, url: `ftp://user:pass@127.0.0.1:${proxy.port}/`,
      jobs: [{ name: "outbox", kind: "upload", watch: "./outbox", target: "srv:/inbox", stable: "100ms", after: "delete" }],
    }));
    daemon = new DaemonProcess(p("ferry.json"));
    await daemon.waitForLog("daemon ready");
  });

  after(async () => {
    await daemon?.stop();
    await proxy?.close();
    await server?.stop();
    await dir?.remove();
  });

  it("retries after the cut, publishes once; the final name never holds a partial; one success in the queue", { timeout: 60_000 }, async () => {
    const body = pseudoRandomBytes(4 * 1024 * 1024, 61);
    await writeFile(p("outbox", "big.bin"), body);
    // Watch the final name the whole time: whenever it exists, it is complete.
    const seen: number[] = [];
    await waitUntil(async () => {
      const size = await stat(p("srv", "inbox", "big.bin")).then((s) => s.size, () => -1);
      if (size >= 0) seen.push(size);
      return size === body.length && (await listNames(p("outbox"))).length === 0;
    }, { timeoutMs: 30_000, what: "the upload after the cut", exited: daemon, onTimeout: () => daemon.stderr.slice(-3000) });
    assert.equal(proxy.cuts, 1, "the session was cut once");
    assert.ok(seen.length > 0 && seen.every((n) => n === body.length), `sizes seen under the final name: ${[...new Set(seen)].join(", ")}`);
    assert.equal(proxy.commands.filter((c) => /^STOR .*big\.bin/.test(c)).length, 2, "sent again after the cut");
    assert.equal(proxy.commands.filter((c) => /^RNTO .*big\.bin$/.test(c)).length, 1, "published once");
    const tree = await readTree(p("srv", "inbox"));
    assert.deepEqual([...tree.keys()], ["big.bin"], "no temporary file left");
    assert.ok(tree.get("big.bin")!.equals(body));
    await waitUntil(() => readQueue(p("var", "ferry.db")).done === 1, { timeoutMs: 10_000, what: "the job to be done" });
    const q = readQueue(p("var", "ferry.db"));
    assert.equal(q.dead, 0);
    assert.deepEqual(q.transfers.filter((x) => /big\.bin/.test(x.path)).map((x) => x.jobName), ["outbox"], "exactly one success record");
  });

  it("the retry resumes the partial with REST instead of sending it all again", () => {
    const rest = proxy.commands.filter((c) => /^REST [1-9]\d*$/.test(c));
    assert.equal(rest.length, 1, `resumed with REST: ${proxy.commands.filter((c) => /^(REST|STOR|APPE)/.test(c)).join(" | ")}`);
    assert.ok(Number(rest[0]!.slice(5)) <= 1_000_000);
  });
});
