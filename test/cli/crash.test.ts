import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { startFerryServer } from "../helpers/ferryServer.js";
import { runFerry, spawnFerry } from "../helpers/cli.js";
import { pseudoRandomBytes, tempDir } from "../helpers/tmp.js";
import { readTree, writeTree } from "../sync/treeUtil.js";

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

for (const direction of ["upload", "download"] as const) test(`SIGKILL of ferry mirror (${direction}) mid-run: no partial file under a final name, and a re-run converges`, async (t) => {
  const server = await startFerryServer();
  const tmp = await tempDir();
  t.after(async () => { await server.close(); await tmp.remove(); });
  const env = { FERRY_STATE_DIR: join(tmp.path, "state"), HOME: tmp.path };
  const local = join(tmp.path, "src");
  const spec: Record<string, Buffer> = {};
  for (let i = 0; i < 24; i++) spec[`d${i % 3}/f${i}.bin`] = pseudoRandomBytes(256 * 1024, i + 1);
  const remote = join(server.root, "m");
  const url = `ftp://user:pass@127.0.0.1:${server.port}/m`;
  const [from, to, source, target] = direction === "upload" ? [local, url, local, remote] : [url, local, remote, local];
  await writeTree(source, spec);
  const expected = new Map(Object.entries(spec).map(([p, b]) => [p, sha(b)]));

  /** Every file under its final name must be complete: that is the whole point of atomic publish. */
  const checkPublished = async (): Promise<number> => {
    let published = 0;
    for (const d of ["d0", "d1", "d2"]) {
      const names = await readdir(join(target, d)).catch(() => [] as string[]);
      for (const n of names) {
        if (n.endsWith(".ferry-part") || n.startsWith(".ferry-upload.")) continue; // the client's and the server's temporaries
        const got = sha(await readFile(join(target, d, n)));
        assert.equal(got, expected.get(`${d}/${n}`), `${d}/${n} is visible under its final name but incomplete`);
        published++;
      }
    }
    return published;
  };

  // 6 MiB at 1 MiB/s: long enough to be killed in the middle.
  const child = spawnFerry(["mirror", from, to, "--bwlimit", "1M", "--parallel", "2"], env);
  const exited = new Promise((r) => child.on("exit", r));
  let published = 0;
  for (let i = 0; i < 400 && published < 4; i++) {
    published = await checkPublished();
    await sleep(25);
  }
  assert.ok(published >= 4 && published < 24, `killed mid-run (published ${published})`);
  child.kill("SIGKILL");
  await exited;
  await checkPublished();

  const again = await runFerry(["mirror", from, to], { env, timeoutMs: 60_000 });
  assert.equal(again.code, 0, again.stderr + again.stdout);
  assert.deepEqual(await readTree(target, { withParts: true }), await readTree(source));
  const third = await runFerry(["mirror", from, to], { env, timeoutMs: 60_000 });
  assert.match(third.stdout, /0 transferred, 24 unchanged/);
});
