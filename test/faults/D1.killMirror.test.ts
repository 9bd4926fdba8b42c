/**
 * D1 — kill -9 during a mirror. A child daemon mirrors a tree both ways (local → server and
 * server → local, with delete) while the source keeps changing; it is SIGKILLed at seeded
 * random moments and restarted. After every kill: the queue database passes integrity_check
 * and every file under its final name holds bytes some version of the source had (never a
 * mix). At the end: both copies equal the source, no `.ferry-part` is left (resumed or
 * deleted), and a further run finds nothing to do. FERRY_FAULT_SEED replays a schedule.
 * (test/daemon/crash.test.ts adds the outbox side, 20 rounds.)
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { openDatabase } from "../../src/queue/index.js";
import { pseudoRandomBytes, tempDir } from "../helpers/tmp.js";
import { DaemonProcess, readQueue, readTree, RestartableServer, testConfig, waitUntil } from "../daemon/harness.js";

const FILES = 200;
const ROUNDS = 8;

/** mulberry32: a small deterministic PRNG, so a failing schedule can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const seed = Number(process.env.FERRY_FAULT_SEED ?? Date.now() % 100_000);

test(`D1: ${ROUNDS} × kill -9 of a daemon mirroring ${FILES} files each way; integrity, no mixed file, convergence, idempotent re-run (seed ${seed})`, { timeout: 120_000 }, async (t) => {
  const rand = prng(seed);
  const dir = await tempDir("ferry-d1-");
  const p = (...parts: string[]) => join(dir.path, ...parts);
  for (const d of ["srv/down", "up-src", "tmp"]) await mkdir(p(d), { recursive: true });
  const server = new RestartableServer(p("srv"));
  await server.start();
  let daemon: DaemonProcess | undefined;
  t.after(async () => { daemon?.kill("SIGKILL"); await daemon?.exited; await server.stop(); await dir.remove(); });
  await writeFile(p("ferry.json"), testConfig({
    dir: dir.path, url: server.url,
    jobs: [
      { name: "up", kind: "mirror", source: "./up-src", target: "srv:/up", schedule: "* * * * * *", delete: true },
      { name: "down", kind: "mirror", source: "srv:/down", target: "./down-dst", schedule: "* * * * * *", delete: true },
    ],
  }));

  // Every version each source path ever had; a final name may hold any of them, nothing else.
  const versions = { up: new Map<string, Buffer[]>(), down: new Map<string, Buffer[]>() };
  const roots = { up: p("up-src"), down: p("srv", "down") };
  let serial = 0;
  const put = async (side: "up" | "down", name: string) => {
    const body = pseudoRandomBytes(2_000 + Math.floor(rand() * 120_000), ++serial);
    versions[side].set(name, [...(versions[side].get(name) ?? []), body]);
    const tmp = p("tmp", `t${serial}`);
    await writeFile(tmp, body);
    await mkdir(join(roots[side], name, ".."), { recursive: true });
    await rename(tmp, join(roots[side], name)); // a careful producer: whole files only
  };
  const live = { up: new Set<string>(), down: new Set<string>() };
  for (const side of ["up", "down"] as const) {
    for (let i = 0; i < FILES; i++) { const n = `d${i % 7}/f${i}.bin`; await put(side, n); live[side].add(n); }
  }

  const checkVisible = async (round: number) => {
    for (const [side, dst] of [["up", p("srv", "up")], ["down", p("down-dst")]] as const) {
      for (const [path, body] of await readTree(dst)) {
        if (path.split("/").pop()!.endsWith(".ferry-part")) continue; // a temporary name may hold anything
        assert.ok(versions[side].get(path)?.some((v) => v.equals(body)), `round ${round}: ${side} ${path} holds bytes no source version had`);
      }
    }
    const db = openDatabase(p("var", "ferry.db"));
    try {
      assert.equal(db.pragma("integrity_check", { simple: true }), "ok", `round ${round}: queue integrity`);
    } finally {
      db.close();
    }
  };

  let killedMidRun = 0;
  for (let round = 0; round < ROUNDS; round++) {
    // The source changes between rounds: some files rewritten, some added, a few deleted.
    if (round > 0) {
      for (const side of ["up", "down"] as const) {
        const names = [...live[side]];
        for (let k = 0; k < 8; k++) await put(side, names[Math.floor(rand() * names.length)]!);
        for (let k = 0; k < 3; k++) { const n = `r${round}/n${k}.bin`; await put(side, n); live[side].add(n); }
        for (let k = 0; k < 2; k++) {
          const n = names[Math.floor(rand() * names.length)]!;
          if (live[side].delete(n)) await rm(join(roots[side], n));
        }
      }
    }
    daemon = new DaemonProcess(p("ferry.json"));
    if (rand() < 0.2) await sleep(300 + rand() * 900); // sometimes during start-up
    else {
      await daemon.waitForLog("daemon ready");
      await sleep(rand() * 700);
    }
    if (daemon.messages("job started").length > daemon.messages("job succeeded").length) killedMidRun++;
    daemon.kill("SIGKILL");
    await daemon.exited;
    daemon = undefined;
    await checkVisible(round);
  }

  // The last start converges: both copies equal the live source, no temporary file left.
  daemon = new DaemonProcess(p("ferry.json"));
  await daemon.waitForLog("daemon ready");
  const expected = async (side: "up" | "down") => {
    const m = new Map<string, Buffer>();
    for (const n of live[side]) m.set(n, versions[side].get(n)!.at(-1)!);
    return m;
  };
  const equal = (a: Map<string, Buffer>, b: Map<string, Buffer>) => a.size === b.size && [...a].every(([k, v]) => b.get(k)?.equals(v));
  await waitUntil(async () => equal(await readTree(p("srv", "up")), await expected("up")) && equal(await readTree(p("down-dst")), await expected("down")),
    { timeoutMs: 60_000, what: "both mirrors to converge", exited: daemon, onTimeout: () => daemon!.stderr.slice(-3000) });
  // A run that starts after convergence has nothing to do.
  const before = daemon.messages("mirror converged").length;
  await waitUntil(() => {
    const later = daemon!.messages("mirror converged").slice(before);
    return ["up", "down"].every((job) => later.some((l) => l.job === job && l.transferred === 0 && l.deleted === 0));
  }, { timeoutMs: 20_000, what: "an idle run of each mirror", exited: daemon });
  const r = await daemon.stop();
  assert.equal(r.code, 0, daemon.stderr.slice(-2000));
  daemon = undefined;
  await checkVisible(ROUNDS);
  for (const dst of [p("srv", "up"), p("down-dst")]) {
    const parts = [...(await readTree(dst)).keys()].filter((k) => k.endsWith(".ferry-part"));
    assert.deepEqual(parts, [], `stale partial files in ${dst} were resumed or deleted`);
  }
  const q = readQueue(p("var", "ferry.db"));
  assert.equal(q.leased, 0, "no lease left after a clean stop");
  assert.equal(q.dead, 0, "no mirror run gave up");
  t.diagnostic(`seed ${seed}: ${killedMidRun}/${ROUNDS} kills landed while a mirror run was in progress`);
});
