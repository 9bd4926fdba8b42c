import { after, before, describe, it, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { requirePeer } from "../helpers/peers.js";
import { startFerryServer, type RunningFerryServer } from "../helpers/ferryServer.js";
import { pseudoRandomBytes, tempDir } from "../helpers/tmp.js";

const run = promisify(execFile);

describe("interop: curl against ferry serve", () => {
  let srv: RunningFerryServer;
  let local: { path: string; remove: () => Promise<void> };
  const data = pseudoRandomBytes(2_500_000, 3);

  before(async () => {
    srv = await startFerryServer();
    local = await tempDir();
    await writeFile(join(srv.root, "down.bin"), data);
    await writeFile(join(srv.root, "hello.txt"), "hello\n");
  });
  after(async () => {
    await srv.close();
    await local.remove();
  });

  let bin = "curl";
  const hasCurl = (t: TestContext): boolean => {
    const found = requirePeer(t, "curl", "apt-get install -y curl");
    if (found) bin = found;
    return found !== undefined;
  };
  const curl = async (...args: string[]): Promise<string> => {
    const { stdout } = await run(bin, ["-sS", "--max-time", "30", ...args], { encoding: "buffer", maxBuffer: 64 << 20 });
    return stdout.toString("utf8");
  };

  for (const mode of [["--ftp-pasv"], ["--ftp-port", "127.0.0.1"]]) {
    it(`lists, downloads and uploads (${mode.join(" ")})`, async (t) => {
      if (!hasCurl(t)) return;
      const listing = await curl(...mode, `${srv.url()}/`);
      assert.match(listing, /^-rw-.* down\.bin$/m);
      assert.match(listing, /^-rw-.* hello\.txt$/m);
      const out = join(local.path, `dl-${mode.length}.bin`);
      await curl(...mode, "-o", out, `${srv.url()}/down.bin`);
      assert.deepEqual(await readFile(out), data);
      const src = join(local.path, "src.bin");
      await writeFile(src, data.subarray(0, 1_000_003));
      await curl(...mode, "--ftp-create-dirs", "-T", src, `${srv.url()}/up${mode.length}/sub/up.bin`);
      assert.deepEqual(await readFile(join(srv.root, `up${mode.length}`, "sub", "up.bin")), data.subarray(0, 1_000_003));
    });
  }

  it("resumes a download with -C -", async (t) => {
    const out = join(local.path, "resume.bin");
    await writeFile(out, data.subarray(0, 777_777));
    if (!hasCurl(t)) return;
    await curl("-C", "-", "-o", out, `${srv.url()}/down.bin`);
    assert.deepEqual(await readFile(out), data);
  });

  it("resumes an upload with -C -", async (t) => {
    if (!hasCurl(t)) return;
    await writeFile(join(srv.root, "partial.bin"), data.subarray(0, 1_234_567));
    const src = join(local.path, "full.bin");
    await writeFile(src, data);
    await curl("-C", "-", "-T", src, `${srv.url()}/partial.bin`);
    assert.deepEqual(await readFile(join(srv.root, "partial.bin")), data);
  });

  it("lists names only (NLST) with -l", async (t) => {
    if (!hasCurl(t)) return;
    const names = await curl("-l", `${srv.url()}/`);
    assert.ok(names.split(/\r?\n/).includes("down.bin"));
  });

  it("lists a directory of 20,000 entries (LIST and NLST, streamed)", async (t) => {
    if (!hasCurl(t)) return;
    const { mkdir, open } = await import("node:fs/promises");
    const dir = join(srv.root, "many");
    await mkdir(dir);
    for (let i = 0; i < 20_000; i += 500) {
      await Promise.all(Array.from({ length: 500 }, (_, k) => open(join(dir, `f${String(i + k).padStart(5, "0")}`), "w").then((h) => h.close())));
    }
    const long = (await curl(`${srv.url()}/many/`)).split(/\r?\n/).filter(Boolean);
    assert.equal(long.length, 20_000);
    assert.ok(long.every((l) => /^-rw-r--r-- +1 ftp +ftp +0 \w{3} \d\d [\d:]{4,5} f\d{5}$/.test(l)), long[0]);
    const names = (await curl("-l", `${srv.url()}/many/`)).split(/\r?\n/).filter(Boolean).sort();
    assert.equal(names.length, 20_000);
    assert.equal(names[19_999], "f19999");
  });
});
