import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { chown, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { isRetriable } from "../../src/client/index.js";
import { runMirror, type MirrorOptions } from "../../src/sync/mirror.js";
import { SyncState } from "../../src/sync/state.js";
import { requireServer, startVsftpd, VSFTPD_CANDIDATES, type PeerFtpServer } from "../helpers/vsftpd.js";
import { PUREFTPD_CANDIDATES, startPureFtpd } from "../helpers/pureftpd.js";
import { tempDir } from "../helpers/tmp.js";
import { poolFor } from "./remoteHelpers.js";
import { readTree, sampleTree, writeTree } from "./treeUtil.js";

/**
 * One conformance scenario run against each real server (STYLE 15): upload a tree, re-run
 * (nothing moves), change a file (only it moves), --delete (only extraneous entries go),
 * then download it all back and compare byte for byte.
 */
async function mirrorConformance(t: TestContext, server: PeerFtpServer): Promise<void> {
  const tmp = await tempDir();
  const url = `ftp://${server.user}:${server.password}@127.0.0.1:${server.port}`;
  const pool = poolFor(url, 4);
  t.after(async () => { await pool.drain(); await server.stop(); await tmp.remove(); });
  const run = (o: Partial<MirrorOptions> & Pick<MirrorOptions, "direction" | "localRoot">) => runMirror({
    remoteRoot: "mirror", pool, isRetriable, retry: { attempts: 3, baseMs: 20, capMs: 200 }, parallel: 4, ...o,
  });
  const local = join(tmp.path, "src");
  await writeTree(local, sampleTree({ bigBytes: 2 << 20, smallFiles: 150 }));
  const state = SyncState.empty();
  const up = await run({ direction: "upload", localRoot: local, state });
  assert.deepEqual(up.result!.failed, []);
  const remote = join(server.home, "mirror");
  assert.deepEqual(await readTree(remote), await readTree(local));

  const again = await run({ direction: "upload", localRoot: local, state });
  assert.equal(again.plan.ops.length, 0, `re-run planned ${JSON.stringify(again.plan.ops.slice(0, 3))}`);

  await writeFile(join(local, "top.txt"), "top level, changed\n");
  const { uid, gid } = await stat(server.home);
  await writeFile(join(remote, "extraneous.txt"), "x");
  await chown(join(remote, "extraneous.txt"), uid, gid);
  const third = await run({ direction: "upload", localRoot: local, state, delete: true });
  assert.deepEqual(third.result!.failed, []);
  assert.deepEqual(third.result!.transferred.map((r) => r.path), ["top.txt"]);
  assert.deepEqual(third.result!.deleted, ["extraneous.txt"]);
  assert.deepEqual(await readTree(remote), await readTree(local));

  const back = join(tmp.path, "back");
  const down = await run({ direction: "download", localRoot: back });
  assert.deepEqual(down.result!.failed, []);
  assert.deepEqual(await readTree(back), await readTree(local));
}

test("mirror conformance against vsftpd (LIST only, no HASH: size-verified, sync state for re-runs)", async (t) => {
  const bin = requireServer(t, "vsftpd", "apt-get install -y vsftpd", VSFTPD_CANDIDATES);
  if (!bin) return;
  await mirrorConformance(t, await startVsftpd(bin));
});

test("mirror conformance against pure-ftpd (MLSD)", async (t) => {
  const bin = requireServer(t, "pure-ftpd", "sudo scripts/install-peers.sh (unpacks the .deb into /opt/ferry-peers)", PUREFTPD_CANDIDATES);
  if (!bin) return;
  await mirrorConformance(t, await startPureFtpd(bin));
});
