import assert from "node:assert/strict";
import { mkdir, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, it } from "node:test";
import { pseudoRandomBytes, tempDir } from "../helpers/tmp.js";
import { DaemonProcess, listNames, readQueue, readTree, RestartableServer, testConfig, waitUntil } from "./harness.js";

const ROUNDS = 20;
const FILES_PER_ROUND = 6;

/** A small deterministic PRNG (mulberry32), so a failing round can be replayed. */
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

describe("crash safety: SIGKILL the daemon at random moments during uploads and mirrors", () => {
  let dir: { path: string; remove: () => Promise<void> };
  let server: RestartableServer;
  let configFile: string;
  let current: DaemonProcess | undefined;
  const seed = Number(process.env.FERRY_CRASH_SEED ?? Date.now() % 100_000);
  const rand = prng(seed);
  const p = (...parts: string[]) => join(dir.path, ...parts);

  before(async () => {
    dir = await tempDir("ferry-crash-");
    for (const d of ["srv", "outbox", "msrc", "tmp"]) await mkdir(p(d));
    server = new RestartableServer(p("srv"));
    await server.start();
    configFile = p("ferry.json");
    await writeFile(configFile, testConfig({
      dir: dir.path, url: server.url,
      jobs: [
        { name: "outbox", kind: "upload", watch: "./outbox", target: "srv:/inbox", stable: "100ms", after: { move: "./sent" } },
        { name: "mirror", kind: "mirror", source: "./msrc", target: "srv:/mirror", schedule: "* * * * * *", verify: "checksum" },
      ],
    }));
  });

  after(async () => {
    current?.kill("SIGKILL");
    await current?.exited;
    await server?.stop();
    await dir?.remove();
  });

  it(`${ROUNDS} rounds of kill -9 and restart lose nothing and duplicate nothing (seed ${seed})`, { timeout: 240_000 }, async () => {
    const outboxExpected = new Map<string, Buffer>();
    const mirrorVersions = new Map<string, Buffer[]>();
    /** Writes a file atomically into place (a temp file elsewhere, then rename), like a careful producer. */
    const place = async (path: string, body: Buffer) => {
      const tmp = p("tmp", `t${Math.floor(rand() * 1e9)}`);
      await writeFile(tmp, body);
      await rename(tmp, path);
    };
    const mirrorWrite = async (name: string, body: Buffer) => {
      mirrorVersions.set(name, [...(mirrorVersions.get(name) ?? []), body]);
      await place(p("msrc", name), body);
    };
    for (let i = 0; i < 10; i++) await mirrorWrite(`m${i}.bin`, pseudoRandomBytes(50_000 + Math.floor(rand() * 500_000), 5000 + i));

    /** What must hold at every instant: a final name only ever holds a complete, correct file. */
    const checkVisible = async (round: number) => {
      for (const [name, body] of await readTree(p("srv", "inbox"))) {
        if (name.startsWith(".")) continue; // a partial under its temporary name is allowed
        assert.ok(outboxExpected.get(name)?.equals(body), `round ${round}: /inbox/${name} holds wrong or partial bytes`);
      }
      for (const [name, body] of await readTree(p("srv", "mirror"))) {
        if (name.startsWith(".")) continue;
        assert.ok(mirrorVersions.get(name)?.some((v) => v.equals(body)), `round ${round}: /mirror/${name} holds bytes no version ever had`);
      }
      for (const name of await listNames(p("sent"))) assert.ok(outboxExpected.has(name), `round ${round}: unexpected ${name} in sent/ (moved twice?)`);
    };

    for (let round = 0; round < ROUNDS; round++) {
      for (let i = 0; i < FILES_PER_ROUND; i++) {
        const name = `r${String(round).padStart(2, "0")}-${i}.dat`;
        const body = pseudoRandomBytes(10_000 + Math.floor(rand() * 250_000), round * 100 + i + 1);
        outboxExpected.set(name, body);
        await place(p("outbox", name), body);
      }
      if (round % 3 === 0) await mirrorWrite(`m${round % 10}.bin`, pseudoRandomBytes(50_000 + Math.floor(rand() * 500_000), 9000 + round));
      current = new DaemonProcess(configFile);
      if (rand() < 0.2) await sleep(200 + rand() * 800); // sometimes during start-up
      else {
        await current.waitForLog("daemon ready");
        await sleep(rand() * 400);
      }
      current.kill("SIGKILL");
      await current.exited;
      await checkVisible(round);
    }

    // A last start: everything converges, each outbox file exactly once.
    current = new DaemonProcess(configFile);
    await current.waitForLog("daemon ready");
    const done = async () => {
      const inbox = await readTree(p("srv", "inbox"));
      const mirror = await readTree(p("srv", "mirror"));
      const visible = [...inbox.keys()].filter((n) => !n.startsWith("."));
      return visible.length === outboxExpected.size && [...outboxExpected].every(([n, b]) => inbox.get(n)?.equals(b))
        && [...mirrorVersions].every(([n, v]) => mirror.get(n)?.equals(v.at(-1)!)) && (await listNames(p("outbox"))).length === 0;
    };
    await waitUntil(done, { timeoutMs: 90_000, what: "every file to arrive and the mirror to converge", exited: current, onTimeout: () => current!.stderr.slice(-3000) });
    await checkVisible(ROUNDS);
    const live = readQueue(p("var", "ferry.db"));
    for (const owner of live.leaseOwners) assert.ok(owner.includes(`:${current.child.pid}:`), `a lease held by a dead daemon: ${owner}`);
    const r = await current.stop();
    assert.equal(r.code, 0, current.stderr.slice(-2000));
    current = undefined;

    const q = readQueue(p("var", "ferry.db"));
    assert.equal(q.leased, 0, "no stuck lease after a clean stop");
    const perFile = new Map<string, number>();
    for (const t of q.transfers.filter((t) => t.jobName === "outbox")) perFile.set(t.path, (perFile.get(t.path) ?? 0) + 1);
    for (const name of outboxExpected.keys()) assert.equal(perFile.get(`/inbox/${name}`), 1, `/inbox/${name} recorded ${perFile.get(`/inbox/${name}`) ?? 0} times`);
    assert.deepEqual((await listNames(p("sent"))).sort(), [...outboxExpected.keys()].sort());
    assert.equal(q.dead, 0, "no job gave up");
  });
});
