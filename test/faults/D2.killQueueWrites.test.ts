/**
 * D2 — kill -9 during queue writes. A writer process enqueues jobs and completes some (with
 * their transfer rows) in a tight loop, printing an acknowledgement after each commit; it is
 * SIGKILLed at seeded moments. After every kill the database passes integrity_check, every
 * acknowledged job is there, and every acknowledged completion is done with its transfer row
 * (writes committed but not acknowledged may be there too: at-least-once).
 * test/queue/crash.test.ts covers kills of a worker leasing and completing jobs.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { openDatabase } from "../../src/queue/index.js";
import { REPO_ROOT } from "../helpers/cli.js";
import { pseudoRandomBytes, tempDir } from "../helpers/tmp.js";

const ROUNDS = 6;

test(`D2: ${ROUNDS} × kill -9 of a process writing the queue: integrity ok, every acknowledged write present`, { timeout: 90_000 }, async (t) => {
  const dir = await tempDir("ferry-d2-");
  t.after(dir.remove);
  const file = join(dir.path, "q.db");
  const delays = pseudoRandomBytes(ROUNDS, Number(process.env.FERRY_FAULT_SEED ?? 12));
  const enqueued = new Set<number>(), completed = new Set<number>();
  for (let round = 0; round < ROUNDS; round++) {
    const child = spawn(process.execPath, ["--import", "tsx", join(REPO_ROOT, "test", "faults", "fixtures", "queueWriter.ts"), file, `r${round}`], { cwd: REPO_ROOT, stdio: "pipe" });
    t.after(() => child.kill("SIGKILL"));
    let out = "", err = "";
    child.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
    const exited = new Promise<NodeJS.Signals | null>((r) => child.on("close", (_c, sig) => r(sig)));
    const ready = new Promise<void>((resolve, reject) => {
      child.stdout.setEncoding("utf8").on("data", (d: string) => { out += d; if (out.startsWith("ready\n")) resolve(); });
      child.on("close", () => reject(new Error(`writer exited before ready: ${err}`)));
    });
    await ready;
    // Let it write for a while (50–305 ms, seeded), then kill it mid-write.
    await sleep(50 + (delays[round] ?? 0));
    child.kill("SIGKILL");
    assert.equal(await exited, "SIGKILL", `round ${round}: killed, not exited (${err})`);
    for (const line of out.split("\n").slice(1)) {
      const m = /^([EC]) (\d+)$/.exec(line);
      if (!m) continue; // a line cut by the kill is no acknowledgement
      (m[1] === "E" ? enqueued : completed).add(Number(m[2]));
    }
    const db = openDatabase(file);
    try {
      assert.equal(db.pragma("integrity_check", { simple: true }), "ok", `round ${round}: integrity`);
      const ids = new Set((db.prepare("SELECT id FROM jobs").pluck().all() as number[]));
      const missing = [...enqueued].filter((id) => !ids.has(id));
      assert.deepEqual(missing, [], `round ${round}: acknowledged jobs lost`);
      const done = new Set(db.prepare("SELECT id FROM jobs WHERE state = 'done'").pluck().all() as number[]);
      const withTransfer = new Set(db.prepare("SELECT job_id FROM transfers").pluck().all() as number[]);
      assert.deepEqual([...completed].filter((id) => !done.has(id) || !withTransfer.has(id)), [], `round ${round}: acknowledged completions lost`);
    } finally {
      db.close();
    }
  }
  assert.ok(enqueued.size > ROUNDS && completed.size > 0, `writes were acknowledged (${enqueued.size} enqueued, ${completed.size} completed)`);
  t.diagnostic(`${enqueued.size} acknowledged enqueues and ${completed.size} completions across ${ROUNDS} kills`);
});
