/**
 * B9 (issue 12 failure #2): lying transfer metadata. A server announcing N bytes (SIZE) and
 * then sending without end is cut off at N: `ferry get` fails that file with "the server sent
 * more than the N bytes it announced", its memory stays bounded, nothing is published and no
 * temporary file is left (in-memory path for small files, streaming path for large ones). A
 * data connection closed early with a 226 anyway is a size mismatch, not published; a 226
 * arriving before the data ends is waited out (both the end of data and the reply).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { FtpClient } from "../../src/client/index.js";
import { downloadAttempt, VerifyError } from "../../src/sync/index.js";
import { ferryArgv, REPO_ROOT } from "../helpers/cli.js";
import { runMeasured, startLyingServer } from "../helpers/lyingServer.js";
import { tempDir } from "../helpers/tmp.js";

const MB = 1024 * 1024;
// ferry get with tsx peaks at about 90 MB here (bench/endlessData.ts); unfixed, it passed 500 MB in 3 s.
const RSS_BOUND = 200 * MB;

for (const announced of [10, 2 * MB]) {
  test(`ferry get: SIZE says ${announced} bytes, the data never ends: cut off at the announced size, memory bounded, nothing published`, async (t) => {
    const server = await startLyingServer(announced, "endless");
    const tmp = await tempDir("ferry-b9-");
    const state = await tempDir("ferry-b9-state-"); // resume records live outside the destination
    t.after(async () => { await server.close(); await tmp.remove(); await state.remove(); });
    const r = await runMeasured(ferryArgv("get", `ftp://u:p@127.0.0.1:${server.port}/f.bin`, `${tmp.path}/`), {
      cwd: REPO_ROOT, env: { HOME: tmp.path, FERRY_STATE_DIR: state.path, FERRY_LOG_LEVEL: "error" }, killAboveBytes: 2 * RSS_BOUND, timeoutMs: 30_000,
    });
    assert.equal(r.killed, false, `the victim was killed (peak RSS ${Math.round(r.peakRss / MB)} MB or timeout)`);
    assert.ok(r.peakRss > 0, "peak RSS was read");
    assert.ok(r.peakRss < RSS_BOUND, `peak RSS ${Math.round(r.peakRss / MB)} MB`);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`the server sent more than the ${announced} bytes it announced`));
    assert.doesNotMatch(r.stderr, /Unhandled|^\s+at /m);
    assert.deepEqual(await readdir(tmp.path), [], "no file under the final name and no temporary file");
  });
}

async function client(port: number): Promise<FtpClient> {
  return FtpClient.connect({ host: "127.0.0.1", port, user: "u", password: "p" });
}

for (const size of [1000, 2 * MB]) {
  test(`download (${size} bytes): the data closes at half with a 226: size mismatch, not published`, async (t) => {
    const server = await startLyingServer(size, "short");
    const tmp = await tempDir("ferry-b9-");
    const c = await client(server.port);
    t.after(async () => { c.close(); await server.close(); await tmp.remove(); });
    const localPath = join(tmp.path, "f.bin");
    await assert.rejects(downloadAttempt(c, { localPath, remotePath: "f.bin", size }, {}),
      (e: unknown) => e instanceof VerifyError && /size check failed: expected \d+ bytes, received \d+/.test(e.message));
    assert.deepEqual((await readdir(tmp.path)).filter((n) => n === "f.bin"), [], "not published");
  });

  test(`download (${size} bytes): 226 before the data ends: waits for both, the whole file arrives`, async (t) => {
    const server = await startLyingServer(size, "early226");
    const tmp = await tempDir("ferry-b9-");
    const c = await client(server.port);
    t.after(async () => { c.close(); await server.close(); await tmp.remove(); });
    const localPath = join(tmp.path, "f.bin");
    const out = await downloadAttempt(c, { localPath, remotePath: "f.bin", size }, {});
    assert.equal(out.bytes, size);
    assert.ok((await readFile(localPath)).equals(Buffer.alloc(size, 0x62)));
    assert.deepEqual((await readdir(tmp.path)).sort(), ["f.bin"]);
  });
}

test("download: an overrun leaves the connection usable for the next file", async (t) => {
  const server = await startLyingServer(2 * MB, "endless");
  const tmp = await tempDir("ferry-b9-");
  const c = await client(server.port);
  t.after(async () => { c.close(); await server.close(); await tmp.remove(); });
  await assert.rejects(downloadAttempt(c, { localPath: join(tmp.path, "f.bin"), remotePath: "f.bin", size: 2 * MB }, {}),
    /the server sent more than the 2097152 bytes it announced for f\.bin/);
  await c.noop();
  assert.equal(c.closed, false);
  assert.deepEqual(await readdir(tmp.path), []);
});
