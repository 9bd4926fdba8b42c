import assert from "node:assert/strict";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { netnsFor, type Netns, type PeerEvent, type PeerProcess } from "../helpers/netns.js";
import type { PeerClientOptions } from "../helpers/netPeer.js";
import { pseudoRandomBytes, tempDir } from "../helpers/tmp.js";

// FAULTS.md C5 (slow link), C7 (lossy link), C8 (half-open peer): the server and the client
// run as child processes inside a network namespace the test creates, whose loopback is shaped
// with tc tbf or filtered with iptables. Needs root: fails loudly under CI=true without it.

const PORT = 2121; // the namespace's own port space: no clash with anything outside

interface Setup { ns: Netns; root: string; local: string; peers: PeerProcess[]; server: PeerProcess }

async function setup(t: TestContext, limits: Record<string, number>): Promise<Setup | undefined> {
  const peers: PeerProcess[] = [];
  const ns = await netnsFor(t, peers);
  if (!ns) return undefined;
  const tmp = await tempDir("ferry-netns-");
  t.after(() => tmp.remove());
  const root = join(tmp.path, "srv");
  const local = join(tmp.path, "local");
  await mkdir(root);
  await mkdir(local);
  const server = ns.spawnPeer("server", { root, port: PORT, limits: { idleTimeoutMs: 20_000, loginFailureDelayMs: 0, ...limits } });
  peers.push(server);
  await server.waitFor((e) => e.event === "listening", "the server to listen");
  return { ns, root, local, peers, server };
}

function client(s: Setup, options: Omit<PeerClientOptions, "url" | "local"> & { path: string; local: string }): PeerProcess {
  const { path, ...rest } = options;
  const c = s.ns.spawnPeer("client", { ...rest, url: `ftp://user:pass@127.0.0.1:${PORT}/${path}` });
  s.peers.push(c);
  return c;
}

const bytesEvents = (c: PeerProcess): number[] => c.events.filter((e) => e.event === "bytes").map((e) => e.total as number);

test("C5 slow link (tbf 2 mbit): a transfer 4x longer than every timeout completes; progress is steady", { timeout: 60_000 }, async (t) => {
  const s = await setup(t, { dataTimeoutMs: 2000 });
  if (!s) return;
  // lo's MTU is 64 KiB; a 1500-byte MTU lets tbf's small bucket pass every packet.
  await s.ns.exec("ip", "link", "set", "lo", "mtu", "1500");
  await s.ns.exec("tc", "qdisc", "add", "dev", "lo", "root", "tbf", "rate", "2mbit", "burst", "16kb", "latency", "500ms");
  // Just over SMALL_FILE_BYTES so the streaming path (and its progress) runs: ~5 s at 2 mbit.
  const body = pseudoRandomBytes(1_150_000, 5);
  await writeFile(join(s.root, "slow.bin"), body);
  const started = Date.now();
  const c = client(s, {
    op: "get", path: "slow.bin", local: join(s.local, "slow.bin"), size: body.length,
    connectTimeoutMs: 1000, commandTimeoutMs: 1000, dataTimeoutMs: 1000, retry: { attempts: 3, baseMs: 200, capMs: 1000 },
  });
  const done = await c.waitFor((e) => e.event === "done" || e.event === "failed", "the slow download", 45_000);
  t.diagnostic(`C5: ${body.length} bytes through tbf 2mbit in ${Date.now() - started} ms (timeouts 1000 ms)`);
  const elapsed = Date.now() - started;
  assert.equal(done.event, "done", JSON.stringify(done));
  assert.deepEqual(c.events.filter((e) => e.event === "retry"), [], "no spurious timeout, no retry");
  assert.equal(done.connects, 1);
  assert.ok(elapsed > 4 * 1000, `the link really was slow: ${elapsed} ms for ${body.length} bytes`);
  assert.deepEqual(await readFile(join(s.local, "slow.bin")), body);
  assert.deepEqual((await readdir(s.local)).sort(), ["slow.bin"], "no temporary file left");
  // Progress: many steps, increasing, ending at the size; the rate it implies is the link's.
  const steps = bytesEvents(c);
  assert.ok(steps.length >= 20, `${steps.length} progress events`);
  for (let i = 1; i < steps.length; i++) assert.ok(steps[i]! > steps[i - 1]!, "progress only grows");
  assert.equal(steps.at(-1), body.length);
  const rate = (body.length * 8) / (elapsed / 1000);
  assert.ok(rate < 2_200_000, `measured ${Math.round(rate)} bit/s through a 2 mbit link`);
});

test("C7 lossy link (5 % of packets dropped both ways): a mirror completes with every byte right", { timeout: 60_000 }, async (t) => {
  const s = await setup(t, { dataTimeoutMs: 10_000 });
  if (!s) return;
  // A 1500-byte MTU: more packets to lose (lo still hands netfilter GSO batches of several
  // segments, so one drop can take a burst: harsher than independent loss).
  await s.ns.exec("ip", "link", "set", "lo", "mtu", "1500");
  await s.ns.exec("iptables", "-A", "INPUT", "-m", "statistic", "--mode", "random", "--probability", "0.05", "-j", "DROP");
  const files = new Map<string, Buffer>([["big.bin", pseudoRandomBytes(3 * 1024 * 1024, 7)]]);
  for (let i = 0; i < 12; i++) files.set(`small-${i}.txt`, pseudoRandomBytes(2000 + i * 500, 20 + i));
  await mkdir(join(s.root, "m"));
  for (const [name, body] of files) await writeFile(join(s.root, "m", name), body);
  const c = client(s, {
    op: "mirror-down", path: "m", local: join(s.local, "m"), parallel: 2,
    connectTimeoutMs: 10_000, commandTimeoutMs: 10_000, dataTimeoutMs: 10_000, retry: { attempts: 5, baseMs: 200, capMs: 2000 },
  });
  const done = await c.waitFor((e) => e.event === "done" || e.event === "failed", "the mirror over a lossy link", 50_000);
  assert.equal(done.event, "done", JSON.stringify(done));
  assert.deepEqual(done.failed, []);
  assert.equal((done.transferred as unknown[]).length, files.size);
  const got = (await readdir(join(s.local, "m"))).sort();
  assert.deepEqual(got, [...files.keys()].sort(), "every file, no temporary file left");
  for (const [name, body] of files) assert.deepEqual(await readFile(join(s.local, "m", name)), body, name);
  // The loss was real: the kernel counted dropped packets (about 20 per run here).
  const counters = await s.ns.exec("iptables", "-L", "INPUT", "-v", "-n", "-x");
  const dropped = Number(/^\s*(\d+)\s+\d+\s+DROP/m.exec(counters)?.[1] ?? 0);
  assert.ok(dropped >= 5, `iptables dropped ${dropped} packets`);
  t.diagnostic(`C7: ${dropped} packets dropped; ${c.events.filter((e) => e.event === "retry").length} retries`);
});

test("C8 half-open peer (every packet dropped mid-transfer): detected within the data timeout, socket dropped, retried", { timeout: 60_000 }, async (t) => {
  const DATA_TIMEOUT = 1500;
  const s = await setup(t, { dataTimeoutMs: 3000 });
  if (!s) return;
  // Slow the link so the transfer is still running when the peer goes silent.
  await s.ns.exec("ip", "link", "set", "lo", "mtu", "1500");
  await s.ns.exec("tc", "qdisc", "add", "dev", "lo", "root", "tbf", "rate", "8mbit", "burst", "16kb", "latency", "500ms");
  const body = pseudoRandomBytes(2 * 1024 * 1024, 9);
  await writeFile(join(s.root, "half.bin"), body);
  const c = client(s, {
    op: "get", path: "half.bin", local: join(s.local, "half.bin"), size: body.length,
    connectTimeoutMs: 3000, commandTimeoutMs: 3000, dataTimeoutMs: DATA_TIMEOUT, retry: { attempts: 4, baseMs: 1000, capMs: 2000 },
  });
  await c.waitFor((e) => e.event === "bytes" && (e.total as number) >= 256 * 1024, "the download to be under way");
  // The peer vanishes: nothing passes either way, and nothing says so (no RST, no FIN).
  await s.ns.exec("iptables", "-I", "INPUT", "-j", "DROP");
  const cutAt = Date.now();
  const retry = await c.waitFor((e) => e.event === "retry", "the half-open connection to be detected", 10_000);
  const detectedMs = Date.now() - cutAt;
  t.diagnostic(`C8: detected ${detectedMs} ms after the cut (data timeout ${DATA_TIMEOUT} ms)`);
  await s.ns.exec("iptables", "-D", "INPUT", "-j", "DROP"); // the network comes back for the retry
  assert.equal(retry.errName, "FtpTimeoutError", JSON.stringify(retry));
  assert.match(String(retry.err), /stalled|no reply/);
  assert.ok(detectedMs >= DATA_TIMEOUT - 200 && detectedMs <= DATA_TIMEOUT + 2000, `detected after ${detectedMs} ms (data timeout ${DATA_TIMEOUT} ms)`);
  const done = await c.waitFor((e) => e.event === "done" || e.event === "failed", "the retried download", 30_000);
  assert.equal(done.event, "done", JSON.stringify(done));
  assert.equal(done.connects, 2, "the dead connection was dropped and a fresh one made");
  assert.ok((done.offset as number) > 0, "the retry resumed where the cut left off");
  assert.deepEqual(await readFile(join(s.local, "half.bin")), body);
  assert.deepEqual((await readdir(s.local)).sort(), ["half.bin"]);
  // The server let go of the dead session's transfer too (its own data timeout, or the RST
  // that the client's closed socket answers with once packets pass again).
  const aborted: PeerEvent = await s.server.waitFor((e) => /RETR .*half\.bin ABORTED/.test(String(e.msg)), "the server to abort the dead transfer", 10_000);
  assert.equal(aborted.complete, false);
  await c.exited;
  await s.server.waitFor((e) => e.event === "sessions" && e.count === 0 && s.server.events.indexOf(e) > s.server.events.indexOf(aborted), "the server to free every session", 10_000);
});
