/**
 * D3 — graceful SIGTERM during a mirror download. A fake server paces the data so the test
 * decides where the transfer stands when the signal lands (no timing guesses):
 * 1. the data stalls and the grace period (1 s) runs out: the daemon exits 0, the job is put
 *    back (no lease held), the bytes received are kept as `.big.bin.ferry-part` and nothing
 *    appears under the final name;
 * 2. after a restart the transfer resumes with REST from those bytes; SIGTERM lands mid-way
 *    with a long grace: the transfer finishes, the job succeeds after the signal, exit 0, and
 *    the file equals the source.
 * (test/daemon/lifecycle.test.ts covers SIGTERM during an outbox upload.)
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Socket } from "node:net";
import { startFakeFtpServer, type FakeSession } from "../helpers/fakeFtpServer.js";
import { pseudoRandomBytes, tempDir } from "../helpers/tmp.js";
import { DaemonProcess, exists, readQueue, testConfig, waitUntil } from "../daemon/harness.js";

const SIZE = 4 * 1024 * 1024;
const BODY = pseudoRandomBytes(SIZE, 33);
const CHUNK = 64 * 1024;

test("D3: SIGTERM mid-transfer: past the grace period the partial is kept and the lease released (exit 0); then a resume finishes within the grace", { timeout: 90_000 }, async (t) => {
  const dir = await tempDir("ferry-d3-");
  const p = (...parts: string[]) => join(dir.path, ...parts);
  // How far the server may send before it waits for `release` (or the data connection closing).
  let allowUpTo = 512 * 1024;
  let release: () => void = () => {};
  let released = new Promise<void>((r) => (release = r));
  let stalledAt: number | undefined;
  const facts = `type=file;size=${SIZE};modify=20240101000000;`;
  const fake = await startFakeFtpServer({
    features: ["MLST type*;size*;modify*;", "EPSV", "SIZE", "REST STREAM", "MDTM"],
    handlers: {
      MLSD: async (_a, s) => {
        s.reply(150, "Here comes the listing.");
        const d = await s.data();
        d.end(`${facts} big.bin\r\n`);
        await new Promise((r) => d.once("close", r));
        s.reply(226, "Directory send OK.");
      },
      MLST: (arg, s) => (arg.endsWith("big.bin") ? s.reply(250, ["Listing", ` ${facts} ${arg}`, "End"]) : s.reply(250, ["Listing", " type=dir; m", "End"])),
      SIZE: (_a, s) => s.reply(213, String(SIZE)),
      MDTM: (_a, s) => s.reply(213, "20240101000000"),
      REST: (arg, s) => { s.state.rest = Number(arg); s.reply(350, `Restart position accepted (${arg}).`); },
      RETR: (_a, s) => retr(s),
    },
  });
  async function retr(s: FakeSession): Promise<void> {
    const offset = (s.state.rest as number | undefined) ?? 0;
    s.state.rest = undefined;
    s.reply(150, "Opening BINARY mode data connection.");
    const d: Socket = await s.data();
    const closed = new Promise<void>((r) => d.once("close", () => r()));
    d.on("error", () => {});
    for (let pos = offset; pos < SIZE && !d.destroyed; pos += CHUNK) {
      if (pos >= allowUpTo) {
        stalledAt = pos;
        await Promise.race([released, closed]);
        if (d.destroyed) break;
      }
      if (!d.write(BODY.subarray(pos, Math.min(SIZE, pos + CHUNK)))) await Promise.race([new Promise((r) => d.once("drain", r)), closed]);
    }
    if (d.destroyed) { s.reply(426, "Connection closed; transfer aborted."); return; }
    d.end();
    await closed;
    s.reply(226, "Transfer complete.");
  }
  let daemon: DaemonProcess | undefined;
  t.after(async () => { release(); daemon?.kill("SIGKILL"); await daemon?.exited; await fake.close(); await dir.remove(); });
  const config = (grace: string) => writeFile(p("ferry.json"), testConfig({
    dir: dir.path, url: `ftp://user:pass@127.0.0.1:${fake.port}/`, extra: { shutdownGrace: grace },
    jobs: [{ name: "dl", kind: "mirror", source: "srv:/m", target: "./dl", schedule: "0 0 1 1 *", catchUp: true }],
  }));
  const part = p("dl", ".big.bin.ferry-part");

  // 1. The grace period runs out while the data stalls.
  await config("1s");
  daemon = new DaemonProcess(p("ferry.json"));
  await waitUntil(() => stalledAt !== undefined, { timeoutMs: 30_000, what: "the transfer to reach the stall", exited: daemon, onTimeout: () => daemon!.stderr.slice(-2000) });
  daemon.kill("SIGTERM");
  const first = await daemon.exited;
  assert.equal(first.code, 0, daemon.stderr.slice(-2000));
  assert.ok(daemon.messages("grace period over: running jobs were put back in the queue").length === 1, daemon.stderr.slice(-2000));
  assert.equal(readQueue(p("var", "ferry.db")).leased, 0, "the lease was released");
  assert.equal(await exists(p("dl", "big.bin")), false, "nothing under the final name");
  const kept = (await stat(part)).size;
  assert.ok(kept > 0 && kept <= allowUpTo, `the bytes received were kept for resume (${kept})`);
  assert.deepEqual(await readFile(part), BODY.subarray(0, kept));

  // 2. Restart: the transfer resumes from the partial; SIGTERM mid-way with a long grace lets it finish.
  allowUpTo = kept + 512 * 1024;
  stalledAt = undefined;
  released = new Promise<void>((r) => (release = r));
  await config("30s");
  const restsBefore = fake.commands.filter((c) => c.startsWith("REST ")).length;
  daemon = new DaemonProcess(p("ferry.json"));
  await waitUntil(() => stalledAt !== undefined, { timeoutMs: 30_000, what: "the resumed transfer to reach the stall", exited: daemon, onTimeout: () => daemon!.stderr.slice(-2000) });
  daemon.kill("SIGTERM");
  await daemon.waitForLog("SIGTERM: stopping");
  release();
  const second = await daemon.exited;
  assert.equal(second.code, 0, daemon.stderr.slice(-2000));
  const order = daemon.lines.map((l) => l.msg);
  assert.ok(order.indexOf("job succeeded") > order.indexOf("SIGTERM: stopping"), `finished after the signal:\n${order.join("\n")}`);
  assert.deepEqual(fake.commands.filter((c) => c.startsWith("REST ")).slice(restsBefore), [`REST ${kept}`], "resumed from the kept bytes");
  assert.ok((await readFile(p("dl", "big.bin"))).equals(BODY), "the published file equals the source");
  assert.equal(await exists(part), false);
  const q = readQueue(p("var", "ferry.db"));
  assert.equal(q.leased, 0);
  assert.equal(q.done, 1);
  daemon = undefined;
});
