import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { startFerryServer } from "../helpers/ferryServer.js";
import { runFerry } from "../helpers/cli.js";
import { pseudoRandomBytes, tempDir } from "../helpers/tmp.js";

async function setup(t: import("node:test").TestContext) {
  const server = await startFerryServer();
  const tmp = await tempDir();
  t.after(async () => { await server.close(); await tmp.remove(); });
  const env = { FERRY_STATE_DIR: join(tmp.path, "state"), HOME: tmp.path, FERRY_PASSWORD: "", NETRC: "" };
  const ferry = (...args: string[]) => runFerry(args, { env, timeoutMs: 60_000 });
  return { server, tmp, ferry, base: `ftp://user:pass@127.0.0.1:${server.port}` };
}

test("get and put --bwlimit: the bytes arrive intact, never faster than the limit (no first-second burst)", async (t) => {
  const { server, tmp, ferry, base } = await setup(t);
  const data = pseudoRandomBytes(96 * 1024, 7);
  await writeFile(join(tmp.path, "up.bin"), data);
  // 96 KiB at 64 KiB/s cannot take less than 1.5 s when no byte moves before its time.
  let started = performance.now();
  const put = await ferry("put", join(tmp.path, "up.bin"), `${base}/up.bin`, "--bwlimit", "64k");
  assert.equal(put.code, 0, put.stderr);
  assert.ok(performance.now() - started >= 1400, `put took ${Math.round(performance.now() - started)} ms`);
  assert.deepEqual(await readFile(join(server.root, "up.bin")), data);

  started = performance.now();
  const get = await ferry("get", `${base}/up.bin`, join(tmp.path, "down.bin"), "--bwlimit", "00:00,64k 12:00,64k");
  assert.equal(get.code, 0, get.stderr);
  assert.ok(performance.now() - started >= 1400, `get took ${Math.round(performance.now() - started)} ms`);
  assert.deepEqual(await readFile(join(tmp.path, "down.bin")), data);

  const off = await ferry("get", `${base}/up.bin`, join(tmp.path, "off.bin"), "--bwlimit", "off");
  assert.equal(off.code, 0, off.stderr);
  assert.deepEqual(await readFile(join(tmp.path, "off.bin")), data);
});

test("--bwlimit: a bad rate or timetable is a usage error (exit 2) naming the fix", async (t) => {
  const { tmp, ferry, base } = await setup(t);
  await writeFile(join(tmp.path, "f"), "x");
  const cases: [string[], RegExp][] = [
    [["get", `${base}/f`, join(tmp.path, "g"), "--bwlimit", "fast"], /--bwlimit: bad bandwidth limit "fast": use bytes per second/],
    [["put", join(tmp.path, "f"), `${base}/f`, "--bwlimit", "25:00,1M"], /bad time 25:00/],
    [["mirror", tmp.path, `${base}/m`, "--bwlimit", "Moon-08:00,1M"], /bad day "Moon"/],
  ];
  for (const [args, message] of cases) {
    const r = await ferry(...args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, message);
  }
});
