/**
 * B11 for the daemon: a scheduled download mirror finds partials left by a cut run. The one
 * whose remote file changed since (same size, older-than-the-partial mtime, no HASH on the
 * server) is started over; the unchanged one is resumed. Records live in the daemon's state
 * folder (beside its mirrors' sync state), where the cut run left them.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdir, readFile, stat, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { isRetriable } from "../../src/client/index.js";
import { runMirror } from "../../src/sync/mirror.js";
import { SyncState } from "../../src/sync/state.js";
import { startFerryServer } from "../helpers/ferryServer.js";
import { startCutProxy } from "../helpers/cutProxy.js";
import { pseudoRandomBytes, tempDir } from "../helpers/tmp.js";
import { poolFor } from "../sync/remoteHelpers.js";
import { DaemonProcess, testConfig, waitUntil } from "../daemon/harness.js";

const SIZE = 2 * 1024 * 1024;
const OLD = pseudoRandomBytes(SIZE, 31);
const NEW = pseudoRandomBytes(SIZE, 32);
const CUT = 700_000;
const T_OLD = new Date("2020-01-01T00:00:00Z");
const T_NEW = new Date("2021-06-01T00:00:00Z");
const sha = (b: Buffer): string => createHash("sha256").update(b).digest("hex");

test("B11 daemon mirror: a changed remote file is started over, an unchanged one resumed", async (t) => {
  const tmp = await tempDir("ferry-b11d-");
  const pub = join(tmp.path, "srv", "pub");
  await mkdir(pub, { recursive: true });
  for (const name of ["changed.bin", "same.bin"]) {
    await writeFile(join(pub, name), OLD);
    await utimes(join(pub, name), T_OLD, T_OLD);
  }
  const server = await startFerryServer({ root: join(tmp.path, "srv") });
  const proxy = await startCutProxy({ targetPort: server.port, cutOn: /^RETR/, cutAfterBytes: CUT, maxCuts: 2, hideFeatures: /^(HASH|X(SHA|MD5|CRC))/i });
  const pool = poolFor(`ftp://user:pass@127.0.0.1:${proxy.port}`, 1);
  let daemon: DaemonProcess | undefined;
  t.after(async () => { await daemon?.stop(); await pool.drain(); await proxy.close(); await server.close(); await tmp.remove(); });

  // A run cut in both files, recording into the daemon's state folder (database's folder/state).
  const pulled = join(tmp.path, "pulled");
  const stateDir = join(tmp.path, "var", "state");
  const first = await runMirror({
    direction: "download", localRoot: pulled, remoteRoot: "pub", pool, isRetriable, parallel: 1,
    retry: { attempts: 1, baseMs: 10, capMs: 10 }, state: await SyncState.load(join(stateDir, "cut-run.json"), "a", "b"),
  });
  assert.deepEqual(first.result!.failed.map((f) => f.path).sort(), ["changed.bin", "same.bin"]);
  const sameHad = (await stat(join(pulled, ".same.bin.ferry-part"))).size;
  assert.ok(sameHad > 0 && sameHad <= CUT, `same.bin partial: ${sameHad}`);
  assert.ok((await stat(join(pulled, ".changed.bin.ferry-part"))).size > 0);

  await writeFile(join(pub, "changed.bin"), NEW);
  await utimes(join(pub, "changed.bin"), T_NEW, T_NEW);

  const configFile = join(tmp.path, "ferry.json");
  await writeFile(configFile, testConfig({
    dir: tmp.path, url: `ftp://user:pass@127.0.0.1:${proxy.port}/`,
    jobs: [{ name: "pull", kind: "mirror", source: "srv:/pub", target: "./pulled", schedule: "*/1 * * * * *" }],
  }));
  daemon = new DaemonProcess(configFile);
  const d = daemon;
  await d.waitForLog("mirror converged", 30_000);
  assert.equal(sha(await readFile(join(pulled, "changed.bin"))), sha(NEW), "the changed file is exactly the new version");
  assert.equal(sha(await readFile(join(pulled, "same.bin"))), sha(OLD));
  const discarded = d.messages("partial file discarded: started over from byte 0");
  assert.deepEqual(discarded.map((l) => l.path), ["changed.bin"]);
  assert.match(String(discarded[0]!.reason), /the remote file changed since the partial was cut/);
  assert.ok(proxy.commands.includes(`REST ${sameHad}`), "same.bin was resumed with REST n");
  const converged = d.messages("mirror converged")[0]!;
  assert.equal(converged.bytes, SIZE + (SIZE - sameHad), "changed.bin whole, same.bin only its rest");
  await waitUntil(async () => (await stat(join(pulled, ".same.bin.ferry-part")).then(() => false, () => true)),
    { timeoutMs: 1000, what: "no partial left" });
});
