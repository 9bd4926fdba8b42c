// The remote scan with listings over the control connection (issue 13 part 3), against each
// peer: the tree is the one MLSD/LIST over data connections gives (names with spaces, a folder
// named "-a", an empty folder, dotfiles, nested folders; sizes, exact MLSD times, LIST date
// stamps), and where STAT lists, no data connection is opened. A folder too large for a STAT
// reply is listed again over a data connection, and the scan goes on.
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { ClientPool, FtpClient, isRetriable } from "../../src/client/index.js";
import { runMirror } from "../../src/sync/mirror.js";
import { scanRemote, type SyncClient, type SyncPool } from "../../src/sync/remote.js";
import type { Tree } from "../../src/sync/tree.js";
import { startCutProxy } from "../helpers/cutProxy.js";
import { startFakeFtpServer, sendData } from "../helpers/fakeFtpServer.js";
import { startFerryServer } from "../helpers/ferryServer.js";
import { PUREFTPD_CANDIDATES, startPureFtpd } from "../helpers/pureftpd.js";
import { tempDir } from "../helpers/tmp.js";
import { requireServer, startVsftpd, VSFTPD_CANDIDATES } from "../helpers/vsftpd.js";
import { readTree, writeTree } from "./treeUtil.js";

const SPEC: Record<string, string> = {
  "top.txt": "top\n",
  ".dotfile": "hidden\n",
  "dir with space/a b.txt": "spaces\n",
  "-a/inner.txt": "option-like folder\n",
  "d1/x.txt": "x\n",
  "d1/sub/deep.txt": "deep\n",
  "d2/y.txt": "y\n",
};

function pool(port: number, user: string, password: string): ClientPool {
  return new ClientPool({
    max: 4, connect: () => FtpClient.connect({ host: "127.0.0.1", port, user, password, connectTimeoutMs: 5000, commandTimeoutMs: 10_000, dataTimeoutMs: 10_000 }),
  });
}

/** The same pool, its clients listing over data connections only (the scan as it was). */
function overDataOnly(p: ClientPool): SyncPool {
  return {
    use: (fn) => p.use((c) => fn(new Proxy(c, {
      get(target, prop) {
        if (prop === "list") return ((path, options) => target.list(path, { ...options, preferControl: false })) satisfies SyncClient["list"];
        const value: unknown = Reflect.get(target, prop, target);
        return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    }))),
  };
}

/** A tree in comparable form: every folder's entries with type, size, time and stamp. */
function shape(tree: Tree): unknown {
  return [...tree.dirs].sort(([a], [b]) => (a < b ? -1 : 1)).map(([dir, list]) => [dir, list.map((e) =>
    `${e.type}:${e.path}:${e.size}:${e.mtimePrecise ? e.mtime?.toISOString() : "-"}:${e.stamp ?? ""}`).sort()]);
}

/** Scan `root` through a command-recording proxy, with and without control listings. */
async function scanBothWays(t: TestContext, port: number, user: string, password: string, root: string) {
  const proxy = await startCutProxy({ targetPort: port });
  t.after(() => proxy.close());
  const scan = async (usePool: (p: ClientPool) => SyncPool) => {
    proxy.commands.length = 0;
    const p = pool(proxy.port, user, password);
    try {
      const tree = await scanRemote(usePool(p), root, { isRetriable, concurrency: 4 });
      return { tree, commands: [...proxy.commands] };
    } finally {
      await p.drain();
    }
  };
  return { control: await scan((p) => p), data: await scan(overDataOnly) };
}

const verbs = (commands: string[], ...wanted: string[]): string[] => commands.filter((c) => wanted.includes(c.split(" ")[0]!.toUpperCase()));

test("ferry's server: STAT -M lists every folder with MLSD's facts, no data connection, the same tree as MLSD", async (t) => {
  const server = await startFerryServer();
  t.after(() => server.close());
  await writeTree(join(server.root, "tree"), SPEC);
  await writeTree(join(server.root, "tree", "empty"), {});
  const { control, data } = await scanBothWays(t, server.port, "user", "pass", "tree");
  assert.deepEqual(shape(control.tree), shape(data.tree));
  assert.equal(control.tree.dirs.get("")?.find((e) => e.name === "top.txt")?.mtimePrecise, true, "exact times, as MLSD");
  assert.equal(control.tree.dirs.get("empty")?.length, 0);
  assert.deepEqual(verbs(control.commands, "EPSV", "PASV", "MLSD", "LIST"), [], control.commands.join(" | "));
  assert.deepEqual(verbs(control.commands, "STAT").sort(),
    ["STAT -M tree", "STAT -M tree/-a", "STAT -M tree/d1", "STAT -M tree/d1/sub", "STAT -M tree/d2", "STAT -M tree/dir with space", "STAT -M tree/empty"]);
  assert.equal(verbs(data.commands, "MLSD").length, 7);
});

test("ferry's server: a no-change mirror downloads the same tree whether it listed over STAT or MLSD", async (t) => {
  const server = await startFerryServer();
  const tmp = await tempDir("ferry-statmirror-");
  t.after(async () => { await server.close(); await tmp.remove(); });
  await writeTree(join(server.root, "tree"), SPEC);
  const results: Record<string, string>[] = [];
  for (const [name, wrap] of [["control", (p: ClientPool): SyncPool => p], ["data", overDataOnly]] as const) {
    const p = pool(server.port, "user", "pass");
    const local = join(tmp.path, name);
    const first = await runMirror({ direction: "download", localRoot: local, remoteRoot: "tree", pool: wrap(p), isRetriable, parallel: 4 });
    assert.equal(first.result?.failed.length, 0, JSON.stringify(first.result?.failed));
    const again = await runMirror({ direction: "download", localRoot: local, remoteRoot: "tree", pool: wrap(p), isRetriable, parallel: 4 });
    assert.deepEqual(again.plan.ops, [], `${name}: a second run has nothing to do (exact times compared)`);
    await p.drain();
    results.push(await readTree(local));
  }
  assert.deepEqual(results[0], await readTree(join(server.root, "tree")));
  assert.deepEqual(results[0], results[1]);
});

test("vsftpd (no MLSD): STAT -a lists every folder, no data connection, the same tree as LIST -a", async (t) => {
  const bin = requireServer(t, "vsftpd", "apt-get install vsftpd", VSFTPD_CANDIDATES);
  if (!bin) return;
  const server = await startVsftpd(bin);
  t.after(() => server.stop());
  await writeTree(join(server.home, "tree"), SPEC);
  await writeTree(join(server.home, "tree", "empty"), {});
  execFileSync("chown", ["-R", server.user, join(server.home, "tree")]);
  const { control, data } = await scanBothWays(t, server.port, server.user, server.password, "tree");
  assert.deepEqual(shape(control.tree), shape(data.tree));
  assert.deepEqual([...control.tree.dirs.keys()].sort(), ["", "-a", "d1", "d1/sub", "d2", "dir with space", "empty"]);
  assert.deepEqual(verbs(control.commands, "EPSV", "PASV", "LIST"), [], control.commands.join(" | "));
  assert.ok(verbs(control.commands, "STAT").includes("STAT -a tree/-a"), control.commands.join(" | "));
  assert.equal(verbs(data.commands, "LIST").length, 7);
});

test("pure-ftpd (MLSD; its STAT loses exact times and paths with spaces): MLSD, no STAT", async (t) => {
  const bin = requireServer(t, "pure-ftpd", "scripts/install-peers.sh", PUREFTPD_CANDIDATES);
  if (!bin) return;
  const server = await startPureFtpd(bin);
  t.after(() => server.stop());
  await writeTree(join(server.home, "tree"), SPEC);
  execFileSync("chown", ["-R", server.user, join(server.home, "tree")]);
  const { control, data } = await scanBothWays(t, server.port, server.user, server.password, "/tree");
  assert.deepEqual(shape(control.tree), shape(data.tree));
  assert.ok(control.tree.dirs.get("dir with space")?.some((e) => e.name === "a b.txt"), "a folder with spaces is listed");
  assert.deepEqual(verbs(control.commands, "STAT"), []);
  assert.equal(verbs(control.commands, "MLSD").length, 6);
});

test("a folder too large for a STAT reply is listed again over a data connection; the scan completes", async (t) => {
  const line = (name: string, type = "-"): string => `${type}rw-r--r--    1 1001     0               5 Jan 02  2020 ${name}\r\n`;
  const big = Array.from({ length: 1500 }, (_, i) => line(`file-number-${String(i).padStart(4, "0")}.txt`)).join("");
  const server = await startFakeFtpServer({
    handlers: {
      STAT: (arg, s) => s.write(`213-Status follows:\r\n${line(".", "d")}${arg === "-a /r/big" ? big : arg === "-a /r" ? line("big", "d") + line("small", "d") : line("f.txt")}213 End\r\n`),
      LIST: (arg, s) => sendData(s, arg === "-a /r/big" ? big : ""),
    },
  });
  t.after(() => server.close());
  const p = pool(server.port, "u", "p");
  t.after(() => p.drain());
  const tree = await scanRemote(p, "/r", { isRetriable, concurrency: 2 });
  assert.equal(tree.dirs.get("big")?.length, 1500);
  assert.deepEqual(tree.dirs.get("small")?.map((e) => e.name), ["f.txt"]);
  const listings = server.commands.filter((c) => /^(STAT|LIST)/.test(c));
  assert.deepEqual(listings.filter((c) => c.endsWith("/r/big")), ["STAT -a /r/big", "LIST -a /r/big"]);
});
