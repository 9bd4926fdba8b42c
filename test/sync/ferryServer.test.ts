import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { isRetriable } from "../../src/client/index.js";
import { runMirror, type MirrorOptions } from "../../src/sync/mirror.js";
import { SyncState } from "../../src/sync/state.js";
import { startFerryServer } from "../helpers/ferryServer.js";
import { tempDir } from "../helpers/tmp.js";
import { poolFor } from "./remoteHelpers.js";
import { readTree, sampleTree, writeTree } from "./treeUtil.js";

const fastRetry = { attempts: 4, baseMs: 20, capMs: 200 };

async function setup(t: import("node:test").TestContext) {
  const server = await startFerryServer();
  const tmp = await tempDir();
  const pool = poolFor(server.url(), 4);
  t.after(async () => { await pool.drain(); await server.close(); await tmp.remove(); });
  const run = (o: Partial<MirrorOptions> & Pick<MirrorOptions, "direction" | "localRoot">) => runMirror({
    remoteRoot: "mirror", pool, isRetriable, retry: fastRetry, parallel: 4, ...o,
  });
  return { server, tmp, pool, run };
}

test("ferry server: upload a real tree, re-run transfers nothing, a change is re-sent, --delete prunes", async (t) => {
  const { server, tmp, run } = await setup(t);
  const local = join(tmp.path, "up");
  await writeTree(local, sampleTree());
  const state = SyncState.empty();
  const first = await run({ direction: "upload", localRoot: local, state });
  assert.deepEqual(first.result!.failed, []);
  const remoteDir = join(server.root, "mirror");
  assert.deepEqual(await readTree(remoteDir), await readTree(local));
  const verified = new Set(first.result!.transferred.map((r) => r.verified));
  assert.deepEqual([...verified], ["SHA-256"]);

  const second = await run({ direction: "upload", localRoot: local, state });
  assert.equal(second.plan.ops.length, 0, `no-change re-run planned: ${second.plan.ops.map((o) => o.kind + " " + o.path).join(", ")}`);

  await writeFile(join(local, "ünïcödé/café.md"), "# café, changed\n");
  await writeFile(join(remoteDir, "extra.txt"), "x");
  await mkdir(join(remoteDir, "extra dir"));
  const third = await run({ direction: "upload", localRoot: local, state, delete: true });
  assert.deepEqual(third.result!.transferred.map((r) => r.path), ["ünïcödé/café.md"]);
  assert.deepEqual(third.result!.deleted.sort(), ["extra dir", "extra.txt"]);
  assert.deepEqual(await readTree(remoteDir), await readTree(local));
});

test("ferry server: download a real tree, re-run transfers nothing", async (t) => {
  const { server, tmp, run } = await setup(t);
  await writeTree(join(server.root, "mirror"), sampleTree({ smallFiles: 200 }));
  const local = join(tmp.path, "down");
  const first = await run({ direction: "download", localRoot: local });
  assert.deepEqual(first.result!.failed, []);
  assert.deepEqual(await readTree(local), await readTree(join(server.root, "mirror")));
  const second = await run({ direction: "download", localRoot: local });
  assert.equal(second.plan.ops.length, 0, `no-change re-run planned: ${second.plan.ops.map((o) => o.kind + " " + o.path).join(", ")}`);
});
