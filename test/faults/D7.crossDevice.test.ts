import assert from "node:assert/strict";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { pseudoRandomBytes, tempDir } from "../helpers/tmp.js";
import { DaemonProcess, listNames, readQueue, readTree, RestartableServer, testConfig, waitUntil } from "../daemon/harness.js";
import { canMount, mountTmpfs } from "../daemon/mounts.js";

/**
 * D7: folders of one job on different filesystems. The outbox is on the disk and its
 * `after.move` folder on a tmpfs, where a plain rename fails with EXDEV (checked first); the
 * daemon moves the file by copy, fsync, rename and unlink. A mirror downloads into the tmpfs
 * while the database and the sync state stay on the disk: its temporary files live in the
 * destination folder, so publishing them never crosses a filesystem.
 */
describe("D7: temp and archive folders on another filesystem", { skip: !canMount() && "needs root (tmpfs)" }, () => {
  let dir: { path: string; remove: () => Promise<void> };
  let server: RestartableServer;
  let daemon: DaemonProcess | undefined;
  let unmount: (() => void) | undefined;
  const p = (...parts: string[]) => join(dir.path, ...parts);

  before(async () => {
    dir = await tempDir("ferry-d7-");
    await mkdir(p("srv", "data"), { recursive: true });
    await mkdir(p("outbox"));
    await mkdir(p("vol"));
    unmount = mountTmpfs(p("vol"), "16m");
    server = new RestartableServer(p("srv"));
    await server.start();
  });

  after(async () => {
    await daemon?.stop();
    await server?.stop();
    unmount?.();
    await dir?.remove();
  });

  it("after.move across filesystems moves the file whole; a mirror into another filesystem publishes", { timeout: 30_000 }, async () => {
    // The layout really is cross-device: rename fails with EXDEV.
    await writeFile(p("probe"), "x");
    await assert.rejects(rename(p("probe"), p("vol", "probe")), { code: "EXDEV" });

    const body = pseudoRandomBytes(300_000, 5);
    const mirrored = pseudoRandomBytes(200_000, 6);
    await writeFile(p("srv", "data", "m.bin"), mirrored);
    await writeFile(p("ferry.json"), testConfig({
      dir: dir.path, url: server.url,
      jobs: [
        { name: "outbox", kind: "upload", watch: "./outbox", target: "srv:/inbox", stable: "200ms", after: { move: "./vol/sent" } },
        { name: "pull", kind: "mirror", source: "srv:/data", target: "./vol/mirror", schedule: "0 0 1 1 *" },
      ],
    }));
    daemon = new DaemonProcess(p("ferry.json"));
    await daemon.waitForLog("daemon ready");
    await writeFile(p("outbox", "a.bin"), body);
    await waitUntil(async () => (await readFile(p("vol", "sent", "a.bin")).catch(() => Buffer.alloc(0))).equals(body),
      { timeoutMs: 20_000, what: "a.bin moved to vol/sent", exited: daemon, onTimeout: () => daemon!.stderr.slice(-3000) });
    assert.ok((await readTree(p("srv", "inbox"))).get("a.bin")?.equals(body));
    assert.deepEqual(await listNames(p("outbox")), []);
    assert.deepEqual(await listNames(p("vol", "sent")), ["a.bin"], "no temporary copy left beside it");
    await waitUntil(async () => (await readFile(p("vol", "mirror", "m.bin")).catch(() => Buffer.alloc(0))).equals(mirrored),
      { timeoutMs: 20_000, what: "the mirror into the tmpfs", exited: daemon });
    assert.deepEqual(await listNames(p("vol", "mirror")), ["m.bin"]);
    assert.equal(readQueue(p("var", "ferry.db")).dead, 0);
    assert.ok(!daemon.stderr.includes("EXDEV"), "no EXDEV reached the log");
  });
});
