import assert from "node:assert/strict";
import { createHash, createHmac } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { HookTable, openDatabase } from "../../src/queue/index.js";
import type { HookDelivery } from "../../src/daemon/hooks/index.js";
import { HttpRecorder } from "../helpers/httpRecorder.js";
import { pseudoRandomBytes, tempDir } from "../helpers/tmp.js";
import { DaemonProcess, readQueue, readTree, RestartableServer, testConfig, waitUntil } from "./harness.js";

/** Writes its FERRY_* variables (and the names of all it got) as one JSON line to argv[2]. */
const RECORD_SCRIPT = `
import { appendFileSync } from "node:fs";
const facts = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith("FERRY_")));
appendFileSync(process.argv[2], JSON.stringify({ facts, names: Object.keys(process.env) }) + "\\n");
`;

/** Starts a child in its own process group, notes both pids in argv[2], and never ends. */
const HANG_SCRIPT = `
import { spawn } from "node:child_process";
import { appendFileSync } from "node:fs";
const child = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
appendFileSync(process.argv[2], JSON.stringify([process.pid, child.pid]) + "\\n");
setInterval(() => {}, 1000);
`;

function deliveries(database: string): HookDelivery[] {
  const db = openDatabase(database, { readonly: true });
  try {
    return new HookTable(db).list();
  } finally {
    db.close();
  }
}

function jsonLines<T>(file: string): T[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as T);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const SECRET = "s3cret-for-hmac";

describe("hooks of a real daemon: commands, webhooks and healthchecks pings", () => {
  let dir: { path: string; remove: () => Promise<void> };
  let server: RestartableServer;
  let rec: HttpRecorder;
  let daemon: DaemonProcess;
  const p = (...parts: string[]) => join(dir.path, ...parts);
  const body = pseudoRandomBytes(50_000, 11);

  before(async () => {
    dir = await tempDir("ferry-hooks-");
    await mkdir(p("srv"));
    await mkdir(p("outbox"));
    await writeFile(p("record.mjs"), RECORD_SCRIPT);
    await writeFile(p("hang.mjs"), HANG_SCRIPT);
    server = new RestartableServer(p("srv"));
    await server.start();
    rec = await new HttpRecorder().start();
    // The flaky webhook fails twice, then accepts.
    rec.status = (r, n) => (r.path === "/flaky" && n <= 2 ? 500 : 200);
    await writeFile(p("ferry.json"), testConfig({
      dir: dir.path, url: server.url,
      extra: {
        hooks: [
          { name: "signed", on: ["file.transferred"], webhook: { url: rec.url("/hook"), secret: "${HOOK_SECRET}" }, retryDelay: "100ms" },
          { name: "flaky", on: ["file.transferred"], webhook: { url: rec.url("/flaky") }, attempts: 5, retryDelay: "100ms", retryMaxDelay: "400ms" },
        ],
      },
      jobs: [{
        name: "outbox", kind: "upload", watch: "./outbox", target: "srv:/inbox", stable: "100ms", after: "delete",
        hooks: [
          { name: "record", on: ["file.transferred", "run.succeeded"], command: [process.execPath, p("record.mjs"), p("facts.jsonl")] },
          { name: "hang", on: ["file.transferred"], command: [process.execPath, p("hang.mjs"), p("hang.pids")], timeout: "2s", attempts: 2, retryDelay: "100ms" },
        ],
        healthcheck: { url: rec.url("/ping/outbox"), retryDelay: "100ms" },
      }],
    }));
    daemon = new DaemonProcess(p("ferry.json"), { HOOK_SECRET: SECRET });
    await daemon.waitForLog("daemon ready");
    await writeFile(p("outbox", "a.bin"), body);
    // Every hook has settled: delivered or given up.
    await waitUntil(() => {
      const rows = deliveries(p("var", "ferry.db"));
      return rows.length >= 7 && rows.every((r) => r.state !== "pending");
    }, { timeoutMs: 30_000, what: "every hook notification settled", exited: daemon, onTimeout: () => JSON.stringify(deliveries(p("var", "ferry.db")), null, 1) });
  });

  after(async () => {
    const r = await daemon?.stop();
    await rec?.close();
    await server?.stop();
    await dir?.remove();
    assert.equal(r?.code, 0, daemon?.stderr.slice(-2000));
  });

  it("the command gets the file's facts in FERRY_* variables, and none of the daemon's secrets", () => {
    const lines = jsonLines<{ facts: Record<string, string>; names: string[] }>(p("facts.jsonl"));
    const file = lines.filter((l) => l.facts.FERRY_EVENT === "file.transferred");
    assert.equal(file.length, 1, JSON.stringify(lines));
    const f = file[0]!.facts;
    assert.equal(f.FERRY_JOB, "outbox");
    assert.equal(f.FERRY_KIND, "upload");
    assert.equal(f.FERRY_REMOTE, "srv");
    assert.equal(f.FERRY_PATH, "/inbox/a.bin");
    assert.equal(f.FERRY_SOURCE, p("outbox", "a.bin"));
    assert.equal(f.FERRY_BYTES, "50000");
    assert.ok(f.FERRY_HASH_ALGORITHM, "ferry's server hashes, so the upload was verified by checksum");
    assert.equal(f.FERRY_VERIFIED, f.FERRY_HASH_ALGORITHM);
    assert.equal(f.FERRY_HASH, createHash(f.FERRY_HASH_ALGORITHM!.replace("-", "")).update(body).digest("hex"));
    assert.equal(f.FERRY_HOOK, "record");
    assert.ok(!file[0]!.names.includes("HOOK_SECRET"), "the daemon's environment is not passed on");
    const run = lines.filter((l) => l.facts.FERRY_EVENT === "run.succeeded");
    assert.equal(run.length, 1);
    assert.equal(run[0]!.facts.FERRY_FILES, "1");
  });

  it("the webhook gets the facts as JSON with a valid HMAC-SHA256 signature", () => {
    const got = rec.to("/hook");
    assert.equal(got.length, 1);
    const r = got[0]!;
    assert.equal(r.method, "POST");
    assert.equal(r.headers["content-type"], "application/json");
    assert.equal(r.headers["x-ferry-event"], "file.transferred");
    assert.equal(r.headers["x-ferry-signature-256"], `sha256=${createHmac("sha256", SECRET).update(r.body).digest("hex")}`);
    const facts = JSON.parse(r.body) as Record<string, unknown>;
    assert.equal(facts.event, "file.transferred");
    assert.equal(facts.path, "/inbox/a.bin");
    assert.equal(facts.bytes, 50_000);
    assert.equal(facts.hash, createHash(String(facts.hashAlgorithm).replace("-", "")).update(body).digest("hex"));
    assert.equal(String(r.headers["x-ferry-delivery"]), String(facts.delivery));
  });

  it("a failing webhook is retried with the same delivery id until it is accepted", () => {
    const got = rec.to("/flaky");
    assert.equal(got.length, 3, "500, 500, then 200");
    assert.equal(new Set(got.map((r) => r.headers["x-ferry-delivery"])).size, 1);
    const row = deliveries(p("var", "ferry.db")).find((d) => d.hook === "flaky")!;
    assert.equal(row.state, "delivered");
    assert.equal(row.attempts, 3);
  });

  it("a hanging command is killed with its process group at the timeout, tried again, then given up; the transfer stands", async () => {
    const row = deliveries(p("var", "ferry.db")).find((d) => d.hook === "hang")!;
    assert.equal(row.state, "failed");
    assert.equal(row.attempts, 2);
    assert.match(row.lastError ?? "", /killed after the 2000 ms timeout/);
    // Each try that got going (a loaded machine may take the whole timeout to start node) noted its leader and child.
    const pids = jsonLines<number[]>(p("hang.pids")).flat();
    assert.ok(pids.length >= 2 && pids.every((pid) => pid > 0), JSON.stringify(pids));
    await waitUntil(() => pids.every((pid) => !alive(pid)), { timeoutMs: 5000, what: "every process of the hung hook gone" });
    // The file arrived and its job is done, whatever the hooks did.
    const tree = await readTree(p("srv", "inbox"));
    assert.ok(tree.get("a.bin")?.equals(body));
    const q = readQueue(p("var", "ferry.db"));
    assert.equal(q.done, 1);
    assert.equal(q.dead, 0);
    assert.deepEqual(q.transfers.map((t) => t.path), ["/inbox/a.bin"]);
    assert.ok(daemon.lines.some((l) => l.event === "hook.gave-up" && l.hook === "hang"), "the give-up is logged");
  });

  it("healthchecks pings go start, then success", () => {
    assert.deepEqual(rec.requests.filter((r) => r.path.startsWith("/ping/outbox")).map((r) => r.path), ["/ping/outbox/start", "/ping/outbox"]);
  });

  it("ferry status shows the given-up notification", async () => {
    const { runFerry } = await import("../helpers/cli.js");
    const r = await runFerry(["status", "--config", p("ferry.json"), "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout) as { hooks: { gaveUpCount: number; gaveUp: { hook: string; lastError: string }[] } };
    assert.equal(s.hooks.gaveUpCount, 1);
    assert.equal(s.hooks.gaveUp[0]!.hook, "hang");
  });
});
