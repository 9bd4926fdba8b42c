import { test } from "node:test";
import assert from "node:assert/strict";
import { access } from "node:fs/promises";
import { join } from "node:path";
import { pino } from "pino";
import { ClientPool, FtpClient, isRetriable } from "../../src/client/index.js";
import { forgetPipelineVerdicts, pipelineVerdict } from "../../src/client/pipelineDecision.js";
import { runMirror } from "../../src/sync/mirror.js";
import { startFerryServer } from "../helpers/ferryServer.js";
import { startPipelineRelay, type RelayFault } from "../helpers/pipelineRelay.js";
import { pseudoRandomBytes, tempDir } from "../helpers/tmp.js";
import { readTree, writeTree } from "./treeUtil.js";

// Pipelined mirror lanes (issue 13) against ferry's server, through a relay that makes it
// behave like servers that mishandle queued commands: the fallback to lockstep mid-run, and
// faults inside a pipelined batch, never publish an unverified file and never lose one.

const FILES = 24;

function tree(): Record<string, Buffer> {
  const spec: Record<string, Buffer> = {};
  for (let i = 0; i < FILES; i++) spec[`d${i % 3}/f${i}.bin`] = pseudoRandomBytes(900 + 37 * i, i + 1);
  return spec;
}

async function setup(t: import("node:test").TestContext, fault: RelayFault, pipelining = true) {
  forgetPipelineVerdicts();
  const server = await startFerryServer();
  const relay = await startPipelineRelay(server.port, fault);
  const tmp = await tempDir();
  const warnings: { server?: string; why?: string; msg?: string }[] = [];
  const logger = pino({ level: "warn" }, { write: (line: string) => void warnings.push(JSON.parse(line) as { why?: string }) });
  const pool = new ClientPool({
    max: 3, logger,
    connect: () => FtpClient.connect({
      host: "127.0.0.1", port: relay.port, user: "user", password: "pass", logger, pipelining,
      commandTimeoutMs: 5000, dataTimeoutMs: 5000,
      // Short only where a dropped command is the point: a loaded machine must not look like one.
      pipelineStallMs: fault.kind === "drop-after-transfer" ? 300 : 5000,
    }),
  });
  t.after(async () => { await pool.drain(); await relay.close(); await server.close(); await tmp.remove(); });
  const local = join(tmp.path, "local");
  const run = (direction: "upload" | "download", localRoot = local) => runMirror({
    direction, localRoot, remoteRoot: "m", pool, isRetriable, parallel: 3, logger,
    retry: { attempts: 3, baseMs: 1, capMs: 5 },
  });
  const switched = () => warnings.filter((w) => w.msg?.includes("pipelining off"));
  return { server, relay, local, run, tmp, switched, remote: join(server.root, "m") };
}

const stor = (w: string[]) => w.some((l) => l.startsWith("STOR "));

test("pipelined upload: one write per file carries its STOR, SIZE, HASH and the next EPSV; tree byte-identical; far fewer writes than lockstep", async (t) => {
  const piped = await setup(t, { kind: "none" });
  await writeTree(piped.local, tree());
  const out = await piped.run("upload");
  assert.deepEqual(out.result!.failed, []);
  assert.deepEqual(await readTree(piped.remote, { withParts: true }), await readTree(piped.local));
  assert.deepEqual(piped.switched(), []);
  assert.equal(pipelineVerdict(`127.0.0.1:${piped.relay.port}`), "pipeline");
  const storWrites = piped.relay.writes.filter(stor);
  assert.equal(storWrites.length, FILES, "each file's STOR in its own write");
  for (const w of storWrites) {
    const part = w.find((l) => l.startsWith("STOR "))!.slice(5);
    assert.ok(w.includes(`SIZE ${part}`) && w.includes(`HASH ${part}`), `checks leave with the STOR: ${w.join(" | ")}`);
  }
  // Publish commands never wait for a write of their own while files remain: they ride with the next STOR.
  const publishAlone = piped.relay.writes.filter((w) => w.some((l) => l.startsWith("RNFR ")) && !stor(w)).length;
  assert.ok(publishAlone <= 8, `publish writes without a STOR: ${publishAlone} (at most one per batch)`);
  assert.deepEqual(piped.switched(), []);
  assert.ok(out.result!.transferred.every((r) => r.verified === "SHA-256"));

  const lock = await setup(t, { kind: "none" }, false);
  await writeTree(lock.local, tree());
  assert.deepEqual((await lock.run("upload")).result!.failed, []);
  // Each write waits for a reply before the next: writes are the round trips the control connections cost.
  const transferWrites = (w: string[][]) => w.filter((x) => x.some((l) => /^(STOR|SIZE|HASH|EPSV|RNFR|MFMT|LIST|MLSD) /.test(`${l} `))).length;
  assert.ok(transferWrites(piped.relay.writes) * 2 < transferWrites(lock.relay.writes),
    `pipelined ${transferWrites(piped.relay.writes)} writes vs lockstep ${transferWrites(lock.relay.writes)}`);
});

test("pipelined download: RETR, HASH and the next EPSV in one write; tree byte-identical", async (t) => {
  const s = await setup(t, { kind: "none" });
  await writeTree(s.remote, tree());
  const out = await s.run("download");
  assert.deepEqual(out.result!.failed, []);
  assert.deepEqual(await readTree(s.local, { withParts: true }), await readTree(s.remote));
  const retrWrites = s.relay.writes.filter((w) => w.some((l) => l.startsWith("RETR ")));
  assert.deepEqual(s.switched(), []);
  assert.equal(retrWrites.length, FILES);
  assert.ok(retrWrites.filter((w) => w.includes("EPSV")).length >= FILES - 8, "the next EPSV leaves with the RETR");
  assert.ok(out.result!.transferred.every((r) => r.verified === "SHA-256"));
});

test("a server that reads one command per write: the probe finds it, lockstep from then on, logged, mirror right", async (t) => {
  const s = await setup(t, { kind: "first-line-per-write" });
  await writeTree(s.local, tree());
  const out = await s.run("upload");
  assert.deepEqual(out.result!.failed, []);
  assert.deepEqual(await readTree(s.remote, { withParts: true }), await readTree(s.local));
  assert.equal(pipelineVerdict(`127.0.0.1:${s.relay.port}`), "lockstep");
  const sw = s.switched();
  assert.equal(sw.length, 1, "switched once for the server");
  assert.equal(sw[0]!.server, `127.0.0.1:${s.relay.port}`);
  assert.match(sw[0]!.why!, /probe: no reply to NOOP/);
  assert.equal(s.relay.writes.filter(stor).filter((w) => w.length > 1).length, 0, "no STOR shared a write after the switch");
});

for (const fault of [{ kind: "drop-after-transfer", after: 5 }, { kind: "swap-after-transfer", after: 5 }] as const) {
  for (const direction of ["upload", "download"] as const) {
    test(`${fault.kind} mid-run (${direction}): the server goes lockstep, logged; every file right, none unverified, none left as a temporary`, async (t) => {
      const s = await setup(t, fault);
      if (direction === "upload") await writeTree(s.local, tree());
      else await writeTree(s.remote, tree());
      const out = await s.run(direction);
      assert.deepEqual(out.result!.failed, []);
      const [src, dst] = direction === "upload" ? [s.local, s.remote] : [s.remote, s.local];
      assert.deepEqual(await readTree(dst, { withParts: true }), await readTree(src));
      assert.equal(out.result!.transferred.length, FILES, "each file published once");
      assert.equal(new Set(out.result!.transferred.map((r) => r.path)).size, FILES);
      const sw = s.switched();
      assert.equal(sw.length, 1);
      assert.match(sw[0]!.why!, fault.kind === "drop-after-transfer" ? /no reply to .* within 300 ms/ : /cannot answer|does not answer it/);
      assert.equal(pipelineVerdict(`127.0.0.1:${s.relay.port}`), "lockstep");
    });
  }
}

/** Index of the first command matching `re` at or after `from`, -1 if none. */
const indexOf = (commands: string[], re: RegExp, from = 0) => commands.findIndex((c, i) => i >= from && re.test(c));

test("a wrong size in the middle of a pipelined batch: that file is not published until a later attempt verifies it", async (t) => {
  const s = await setup(t, { kind: "wrong-size", match: /\/\.f7\.bin\.ferry-part$/ });
  await writeTree(s.local, tree());
  const out = await s.run("upload");
  assert.deepEqual(out.result!.failed, []);
  assert.deepEqual(await readTree(s.remote, { withParts: true }), await readTree(s.local));
  const firstStor = indexOf(s.relay.commands, /^STOR .*\/\.f7\.bin\.ferry-part$/);
  const secondStor = indexOf(s.relay.commands, /^STOR .*\/\.f7\.bin\.ferry-part$/, firstStor + 1);
  const rnfr = indexOf(s.relay.commands, /^RNFR .*\/\.f7\.bin\.ferry-part$/);
  assert.ok(firstStor >= 0 && secondStor > firstStor, "sent again after the failed check");
  assert.ok(rnfr > secondStor, "renamed only after the second, verified, upload");
  assert.equal(indexOf(s.relay.commands, /^RNFR .*\/\.f7\.bin\.ferry-part$/, rnfr + 1), -1, "published once");
});

test("a 550 in the middle of a pipelined batch: that file fails and is never published; the others are", async (t) => {
  const s = await setup(t, { kind: "size-550", match: /\/\.f4\.bin\.ferry-part$/ });
  await writeTree(s.local, tree());
  const out = await s.run("upload");
  assert.deepEqual(out.result!.failed.map((f) => f.path), ["d1/f4.bin"]);
  assert.equal(indexOf(s.relay.commands, /^RNFR .*\/\.f4\.bin\.ferry-part$/), -1, "never renamed into place");
  await assert.rejects(access(join(s.remote, "d1", "f4.bin")));
  const expected = await readTree(s.local);
  delete expected["d1/f4.bin"];
  assert.deepEqual(await readTree(s.remote), expected);
});

test("a control connection cut in the middle of a pipelined batch: the files in flight are redone, none lost, none twice", async (t) => {
  const s = await setup(t, { kind: "cut-after-transfer", after: 6 });
  await writeTree(s.local, tree());
  const out = await s.run("upload");
  assert.deepEqual(out.result!.failed, []);
  assert.deepEqual(await readTree(s.remote, { withParts: true }), await readTree(s.local));
  assert.equal(new Set(out.result!.transferred.map((r) => r.path)).size, FILES);
  assert.equal(out.result!.transferred.length, FILES);
  assert.ok(out.result!.transferred.some((r) => r.attempts > 1), "some file was redone after the cut");
  // Nothing unverified went to a final name: every RNTO names a file whose checks were answered before.
  assert.deepEqual(s.switched(), [], "a cut is a transport failure, not a pipelining fault");
});

test("the pipeline is refused while another owner holds the connection (single owner)", async (t) => {
  const server = await startFerryServer();
  t.after(() => server.close());
  forgetPipelineVerdicts();
  const c = await FtpClient.connect({ host: "127.0.0.1", port: server.port, user: "user", password: "pass" });
  t.after(() => c.close());
  const p = await c.pipeline("first");
  assert.ok(p);
  await assert.rejects(c.noop(), /pipeline of first holds the connection/);
  await assert.rejects(c.pipeline("second"), /second asked for the connection while the pipeline of first holds it/);
  p.release();
  await c.noop(); // lockstep again once released
});
