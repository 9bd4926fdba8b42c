import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { mkdir, readFile, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { requirePeer } from "../helpers/peers.js";
import { startFerryServer, type RunningFerryServer } from "../helpers/ferryServer.js";
import { tempDir } from "../helpers/tmp.js";
import { treeOf, writeSampleTree } from "./trees.js";

const run = promisify(execFile);
const SETTINGS = "set ftp:ssl-allow no; set net:max-retries 1; set net:timeout 10; set xfer:clobber on; set cmd:fail-exit yes";

describe("interop: lftp against ferry serve", () => {
  let srv: RunningFerryServer;
  let local: { path: string; remove: () => Promise<void> };

  before(async () => {
    srv = await startFerryServer();
    local = await tempDir();
  });
  after(async () => {
    await srv.close();
    await local.remove();
  });

  /** Run lftp commands as the test user; returns stdout. */
  async function lftp(bin: string, commands: string, cwd = local.path): Promise<string> {
    const { stdout } = await run(bin, ["-u", "user,pass", "-p", String(srv.port), "-e", `${SETTINGS}; ${commands}; quit`, "127.0.0.1"],
      { cwd, timeout: 60_000, maxBuffer: 16 << 20 });
    return stdout;
  }

  it("ls, put and get", async (t) => {
    const bin = requirePeer(t, "lftp", "apt-get install -y lftp");
    if (!bin) return;
    await writeFile(join(local.path, "put.txt"), "put by lftp\n");
    await writeFile(join(srv.root, "get.txt"), "got by lftp\n");
    const listing = await lftp(bin, "put put.txt; ls");
    assert.match(listing, /^-rw-.* get\.txt$/m);
    assert.match(listing, /^-rw-.* put\.txt$/m);
    assert.equal(await readFile(join(srv.root, "put.txt"), "utf8"), "put by lftp\n");
    await lftp(bin, "get get.txt -o got.txt");
    assert.equal(await readFile(join(local.path, "got.txt"), "utf8"), "got by lftp\n");
  });

  it("mirror -R uploads a tree and mirror downloads it back", async (t) => {
    const bin = requirePeer(t, "lftp", "apt-get install -y lftp");
    if (!bin) return;
    const src = join(local.path, "src");
    await writeSampleTree(src);
    await lftp(bin, `mirror -R ${src} /mirrored`);
    assert.deepEqual(await treeOf(join(srv.root, "mirrored")), await treeOf(src));
    await lftp(bin, `mirror /mirrored ${join(local.path, "back")}`);
    assert.deepEqual(await treeOf(join(local.path, "back")), await treeOf(src));
  });

  it("mirror --continue completes truncated files", async (t) => {
    const bin = requirePeer(t, "lftp", "apt-get install -y lftp");
    if (!bin) return;
    const remote = join(srv.root, "cont");
    await writeSampleTree(remote, 11);
    const dest = join(local.path, "cont");
    await mkdir(join(dest, "bin"), { recursive: true });
    await writeFile(join(dest, "bin", "data.bin"), (await readFile(join(remote, "bin", "data.bin"))).subarray(0, 100_000));
    await lftp(bin, `mirror --continue /cont ${dest}`);
    assert.deepEqual(await treeOf(dest), await treeOf(remote));
    // and upwards: a truncated remote file is completed by mirror -R --continue
    await truncate(join(remote, "bin", "deeper", "more.bin"), 5000);
    await lftp(bin, `mirror -R --continue ${dest} /cont`);
    assert.deepEqual(await treeOf(remote), await treeOf(dest));
  });
});
