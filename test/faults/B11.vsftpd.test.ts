/**
 * B11 against vsftpd: no HASH, no MLST/MLSD (LIST dates only), so a partial's identity comes
 * from SIZE+MDTM, asked when the download starts (a LIST date cannot be trusted) and again
 * before REST n. A changed file starts over; an unchanged one resumes.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { chmod, readFile, stat, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { downloadAttempt, localPartPath } from "../../src/sync/transfer.js";
import { startCutProxy } from "../helpers/cutProxy.js";
import { pseudoRandomBytes, tempDir } from "../helpers/tmp.js";
import { requireServer, startVsftpd, VSFTPD_CANDIDATES } from "../helpers/vsftpd.js";
import { poolFor } from "../sync/remoteHelpers.js";

const SIZE = 2 * 1024 * 1024;
const OLD = pseudoRandomBytes(SIZE, 41);
const NEW = pseudoRandomBytes(SIZE, 42);
const T_OLD = new Date("2020-01-01T00:00:00Z");
const T_NEW = new Date("2021-06-01T00:00:00Z");
const sha = (b: Buffer): string => createHash("sha256").update(b).digest("hex");

async function setup(t: import("node:test").TestContext) {
  const bin = requireServer(t, "vsftpd", "apt-get install -y vsftpd", VSFTPD_CANDIDATES);
  if (!bin) return undefined;
  const server = await startVsftpd(bin);
  const proxy = await startCutProxy({ targetPort: server.port, cutOn: /^RETR/, cutAfterBytes: 800_000, maxCuts: 1 });
  const tmp = await tempDir("ferry-b11v-");
  const saved = process.env.FERRY_STATE_DIR;
  process.env.FERRY_STATE_DIR = join(tmp.path, "state");
  const pools: ReturnType<typeof poolFor>[] = [];
  t.after(async () => {
    if (saved === undefined) delete process.env.FERRY_STATE_DIR; else process.env.FERRY_STATE_DIR = saved;
    for (const p of pools) await p.drain();
    await proxy.close(); await server.stop(); await tmp.remove();
  });
  const remote = join(server.loginDir, "big.bin");
  await writeFile(remote, OLD);
  await chmod(remote, 0o644);
  await utimes(remote, T_OLD, T_OLD);
  // A mirror's transfer from a LIST-only server: no trustworthy mtime from the scan.
  const tr = { localPath: join(tmp.path, "big.bin"), remotePath: "big.bin", size: SIZE };
  /** One attempt on a fresh connection, as a retry after a cut gets. */
  const attempt = (n: number) => {
    const p = poolFor(`ftp://${server.user}:${server.password}@127.0.0.1:${proxy.port}`, 1);
    pools.push(p);
    return p.use((c) => downloadAttempt(c, tr, { resumePartial: n > 1 }));
  };
  return { remote, tr, attempt, proxy };
}

test("B11 vsftpd (no HASH, no MLST): the file changed between attempts → starts over, the result is the new version", async (t) => {
  const s = await setup(t);
  if (!s) return;
  await assert.rejects(s.attempt(1));
  assert.ok((await stat(localPartPath(s.tr.localPath))).size > 0);
  await writeFile(s.remote, NEW);
  await utimes(s.remote, T_NEW, T_NEW);
  const out = await s.attempt(2);
  assert.equal(out.offset, 0);
  assert.equal(out.verified, "size only");
  assert.match(out.restarted ?? "", /the remote file changed since the partial was cut \(modified 2020-01-01T00:00:00.000Z → 2021-06-01T00:00:00.000Z\)/);
  assert.equal(sha(await readFile(s.tr.localPath)), sha(NEW));
});

test("B11 vsftpd (no HASH, no MLST): an unchanged file resumes with REST n", async (t) => {
  const s = await setup(t);
  if (!s) return;
  await assert.rejects(s.attempt(1));
  const have = (await stat(localPartPath(s.tr.localPath))).size;
  assert.ok(have > 0);
  const out = await s.attempt(2);
  assert.equal(out.offset, have);
  assert.equal(out.bytes, SIZE - have);
  assert.ok(s.proxy.commands.includes(`REST ${have}`));
  assert.equal(sha(await readFile(s.tr.localPath)), sha(OLD));
});
