import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runFerry } from "../helpers/cli.js";
import { PUREFTPD_CANDIDATES, startPureFtpd } from "../helpers/pureftpd.js";
import { pseudoRandomBytes, tempDir } from "../helpers/tmp.js";
import { requireServer } from "../helpers/vsftpd.js";
import { treeOf, writeSampleTree } from "../server/trees.js";

// `ferry mirror` up and back down over ftpes:// against a third-party server that requires
// TLS for login and every data connection (pure-ftpd -Y 3), trusting its certificate with --ca.
test("cli: ferry mirror up and down over ftpes:// against pure-ftpd (TLS required), trees identical", { timeout: 120_000 }, async (t) => {
  const bin = requireServer(t, "pure-ftpd", "sudo scripts/install-peers.sh (unpacks the .deb into /opt/ferry-peers)", PUREFTPD_CANDIDATES);
  if (!bin) return;
  const server = await startPureFtpd(bin, "explicit");
  const src = await tempDir("ferry-mirror-src-");
  const back = await tempDir("ferry-mirror-back-");
  const state = await tempDir("ferry-mirror-state-");
  t.after(async () => {
    await server.stop();
    await Promise.all([src.remove(), back.remove(), state.remove()]);
  });
  const ca = join(state.path, "ca.pem");
  await writeFile(ca, server.cert?.pem ?? "");
  await writeSampleTree(src.path, 41);
  const big = pseudoRandomBytes(2 * 1024 * 1024 + 9, 43); // many TLS records per data connection
  await writeFile(join(src.path, "bin", "big.bin"), big);
  const env = { FERRY_STATE_DIR: state.path };
  const remote = `ftpes://${server.user}:${server.password}@127.0.0.1:${server.port}/mirrored`;

  const untrusted = await runFerry(["mirror", src.path, remote], { env });
  assert.equal(untrusted.code, 3, untrusted.stderr);
  assert.match(untrusted.stderr, /self[- ]signed|certificate/i);
  assert.ok(!untrusted.stderr.includes(server.password), "the password stays out of the error");

  // Plain ftp:// is refused by the server (421 on USER, before PASS): exit 3 with its words.
  const plain = await runFerry(["mirror", src.path, remote.replace(/^ftpes:/, "ftp:")], { env });
  assert.equal(plain.code, 3, plain.stderr);
  assert.match(plain.stderr, /421 Sorry, cleartext sessions/);

  const up = await runFerry(["mirror", "--ca", ca, src.path, remote], { env });
  assert.equal(up.code, 0, up.stderr);
  const want = await treeOf(src.path);
  assert.deepEqual(await treeOf(join(server.home, "mirrored")), want, "server's disk equals the source tree");

  const down = await runFerry(["mirror", "--ca", ca, remote, back.path], { env });
  assert.equal(down.code, 0, down.stderr);
  assert.deepEqual(await treeOf(back.path), want, "mirrored back tree equals the source tree");
  assert.ok((await readFile(join(back.path, "bin", "big.bin"))).equals(big), "big file byte for byte");

  // A second run down finds nothing left to do.
  const again = await runFerry(["mirror", "--ca", ca, "--json", remote, back.path], { env });
  assert.equal(again.code, 0, again.stderr);
  const result = JSON.parse(again.stdout) as { transferred: unknown[]; failed: unknown[]; unchanged: number };
  assert.deepEqual({ transferred: result.transferred, failed: result.failed, unchanged: result.unchanged },
    { transferred: [], failed: [], unchanged: Object.values(want).filter((v) => v !== "dir").length });
  assert.ok(!again.stdout.includes(server.password), "the JSON masks the password");
});
