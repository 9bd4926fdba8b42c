import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { findOpenWriters } from "../../src/daemon/openWriters.js";
import { tempDir } from "../helpers/tmp.js";
import { DaemonProcess, listNames, readTree, RestartableServer, testConfig, waitUntil } from "../daemon/harness.js";

const CHUNK = 256 * 1024;
const CHUNKS = 4;
const PAUSE_MS = 900;

/** A writer that holds the file open and writes CHUNKS chunks with pauses longer than `stable`; resolves when it exits. */
function slowWriter(path: string): { done: Promise<number | null>; pid: number } {
  const script = `
    const fs = require("node:fs");
    const fd = fs.openSync(process.argv[1], "w");
    let i = 0;
    const step = () => {
      const b = Buffer.alloc(${CHUNK}, 65 + i);
      fs.writeSync(fd, b);
      if (++i < ${CHUNKS}) setTimeout(step, ${PAUSE_MS});
      else fs.closeSync(fd);
    };
    step();`;
  const child = spawn(process.execPath, ["-e", script, path], { stdio: "ignore" });
  return { pid: child.pid!, done: new Promise((resolve) => child.on("exit", (code) => resolve(code))) };
}

function expected(): Buffer {
  return Buffer.concat(Array.from({ length: CHUNKS }, (_, i) => Buffer.alloc(CHUNK, 65 + i)));
}

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/**
 * D9 (issue 12 failure #12): a writer that pauses longer than the stability window while it
 * still holds the file open. The daemon must not publish the half file and archive the rest
 * into sent/: it waits while the file is open for writing, and before the after-action checks
 * that the file is still what was sent.
 */
describe("D9: an outbox file still being written", () => {
  let dir: { path: string; remove: () => Promise<void> };
  let server: RestartableServer;
  let daemon: DaemonProcess | undefined;
  const p = (...parts: string[]) => join(dir.path, ...parts);

  before(async () => {
    dir = await tempDir("ferry-d9-");
    await mkdir(p("srv"));
    await mkdir(p("outbox"));
    server = new RestartableServer(p("srv"));
    await server.start();
    await writeFile(p("ferry.json"), testConfig({
      dir: dir.path, url: server.url,
      jobs: [{ name: "outbox", kind: "upload", watch: "./outbox", target: "srv:/inbox", stable: "300ms", after: { move: "./sent" } }],
    }));
    daemon = new DaemonProcess(p("ferry.json"));
    await daemon.waitForLog("daemon ready");
  });

  after(async () => {
    await daemon?.stop();
    await server?.stop();
    await dir?.remove();
  });

  it("findOpenWriters sees a process holding a file open for writing, not a reader", async () => {
    const w = slowWriter(p("probe.bin"));
    await waitUntil(async () => (await readFile(p("probe.bin")).catch(() => Buffer.alloc(0))).length > 0, { timeoutMs: 5000, what: "the writer to start" });
    const found = await findOpenWriters(p("probe.bin"));
    assert.deepEqual(found.map((f) => f.pid), [w.pid]);
    assert.equal(await w.done, 0);
    assert.deepEqual(await findOpenWriters(p("probe.bin")), []);
  });

  it("the server and sent/ finally hold the complete file; no half file stays published", { timeout: 30_000 }, async () => {
    const whole = expected();
    const w = slowWriter(p("outbox", "report.bin"));
    assert.equal(await w.done, 0);
    await waitUntil(async () => (await readFile(p("sent", "report.bin")).catch(() => Buffer.alloc(0))).length === whole.length,
      { timeoutMs: 20_000, what: "the file to be archived in sent/", exited: daemon, onTimeout: () => daemon!.stderr.slice(-4000) });
    assert.equal(sha(await readFile(p("sent", "report.bin"))), sha(whole), "sent/ holds the complete file");
    const tree = await readTree(p("srv"));
    assert.equal(sha(tree.get(join("inbox", "report.bin")) ?? Buffer.alloc(0)), sha(whole), "the server holds the complete file");
    assert.deepEqual([...tree.keys()].filter((k) => k.includes("ferry-part")), [], "no temporary file left on the server");
    assert.deepEqual(await listNames(p("outbox")), []);
    // The daemon waited for the writer rather than guessing from the quiet window alone.
    assert.ok(daemon!.lines.some((l) => l.msg === "job deferred" && /open for writing/.test(String(l.reason))), "deferred while open for writing");
    // Only one archived copy: the half file was never moved to sent/ as "report.1.bin".
    assert.deepEqual(await listNames(p("sent")), ["report.bin"]);
  });
});
