import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { isRetriable } from "../../src/client/index.js";
import { runMirror } from "../../src/sync/mirror.js";
import { startFerryServer } from "../helpers/ferryServer.js";
import { pseudoRandomBytes, tempDir } from "../helpers/tmp.js";
import { startCutProxy, type CutProxyOptions } from "../helpers/cutProxy.js";
import { poolFor } from "./remoteHelpers.js";
import { readTree, writeTree } from "./treeUtil.js";

const BIG = pseudoRandomBytes(3 * 1024 * 1024, 11);

async function setup(t: import("node:test").TestContext, proxyOptions: Omit<CutProxyOptions, "targetPort">) {
  const server = await startFerryServer();
  const proxy = await startCutProxy({ targetPort: server.port, ...proxyOptions });
  const tmp = await tempDir();
  const pool = poolFor(`ftp://user:pass@127.0.0.1:${proxy.port}`, 2);
  t.after(async () => { await pool.drain(); await proxy.close(); await server.close(); await tmp.remove(); });
  const retry = { attempts: 4, baseMs: 20, capMs: 200 };
  return { server, proxy, tmp, run: (direction: "upload" | "download", localRoot: string) =>
    runMirror({ direction, localRoot, remoteRoot: "m", pool, isRetriable, retry, parallel: 2 }) };
}

test("upload: the connection cut mid-file resumes with REST and verifies", async (t) => {
  // The retry waits until the server kept the cut upload's bytes under the part's name.
  let root = "";
  const kept = async (): Promise<void> => {
    for (let i = 0; i < 500; i++) {
      if ((await stat(join(root, "m", ".big.bin.ferry-part")).catch(() => undefined))?.size) return;
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  const { server, proxy, tmp, run } = await setup(t, { cutOn: /^STOR .*big\.bin/, cutAfterBytes: 1_000_000, afterCut: kept });
  root = server.root;
  const local = join(tmp.path, "l");
  await writeTree(local, { "big.bin": BIG, "small.txt": "small" });
  const out = await run("upload", local);
  assert.deepEqual(out.result!.failed, []);
  assert.equal(proxy.cuts, 1);
  const big = out.result!.transferred.find((r) => r.path === "big.bin")!;
  assert.equal(big.attempts, 2);
  assert.ok(big.offset > 0 && big.offset <= 1_000_000, `resumed at ${big.offset}`);
  assert.equal(big.verified, "SHA-256");
  assert.ok(proxy.commands.some((c) => c === `REST ${big.offset}`), "REST was sent");
  assert.deepEqual(await readFile(join(server.root, "m", "big.bin")), BIG);
  assert.deepEqual(await readTree(join(server.root, "m"), { withParts: true }), await readTree(local));
});

test("download: the connection cut mid-file resumes with REST and verifies", async (t) => {
  const { server, proxy, tmp, run } = await setup(t, { cutOn: /^RETR .*big\.bin/, cutAfterBytes: 1_500_000 });
  await writeTree(join(server.root, "m"), { "big.bin": BIG, "other.txt": "o" });
  const local = join(tmp.path, "l");
  const out = await run("download", local);
  assert.deepEqual(out.result!.failed, []);
  assert.equal(proxy.cuts, 1);
  const big = out.result!.transferred.find((r) => r.path === "big.bin")!;
  assert.equal(big.attempts, 2);
  assert.ok(big.offset > 0, `resumed at ${big.offset}`);
  assert.deepEqual(await readFile(join(local, "big.bin")), BIG);
  assert.deepEqual(await readTree(local, { withParts: true }), await readTree(join(server.root, "m")));
});

for (const direction of ["upload", "download"] as const) {
  test(`${direction}: a stream ended early with an orderly close and a 226 resumes after the bytes that came`, async (t) => {
    const { server, proxy, tmp, run } = await setup(t, { cutOn: /^(STOR|RETR) .*big\.bin/, cutAfterBytes: 1_200_000, shorten: true });
    const local = join(tmp.path, "l");
    if (direction === "upload") await writeTree(local, { "big.bin": BIG });
    else await writeTree(join(server.root, "m"), { "big.bin": BIG });
    const out = await run(direction, local);
    assert.deepEqual(out.result!.failed, []);
    assert.equal(proxy.cuts, 1);
    const big = out.result!.transferred.find((r) => r.path === "big.bin")!;
    assert.equal(big.attempts, 2);
    assert.equal(big.offset, 1_200_000, "the next attempt resumes after the short transfer's bytes");
    assert.ok(proxy.commands.includes("REST 1200000"));
    assert.deepEqual(await readFile(join(direction === "upload" ? join(server.root, "m") : local, "big.bin")), BIG);
  });
}

test("a server answering 550 for one file fails only that file, naming it and the reply", async (t) => {
  const { server, tmp, run } = await setup(t, { deny: /^RETR .*denied/ });
  await writeTree(join(server.root, "m"), { "a.txt": "a", "denied.txt": "d", "z/b.txt": "b" });
  const local = join(tmp.path, "l");
  const out = await run("download", local);
  assert.equal(out.result!.failed.length, 1);
  assert.match(out.result!.failed[0]!.error, /^download denied\.txt: .*550 Permission denied \(injected\)/);
  assert.deepEqual(Object.keys(await readTree(local, { withParts: true })).sort(), ["a.txt", "z/", "z/b.txt"]);
});
