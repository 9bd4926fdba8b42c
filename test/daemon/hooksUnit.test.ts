import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { daemonConfigSchema, parseConfig } from "../../src/config/index.js";
import { deliver, HookDeliveryError, HookDispatcher, HookEvents, resolveHooks, type HookAction, type HookFacts, type ResolvedHook } from "../../src/daemon/hooks/index.js";
import { createLogger } from "../../src/log/index.js";
import type { Clock, HookDeliveries } from "../../src/queue/index.js";
import { drivers, type QueueTestDriver } from "../queue/drivers.js";

/** The hook_deliveries table of a fresh queue of this driver. */
const memoryDeliveries = async (driver: QueueTestDriver, t: TestContext): Promise<HookDeliveries> => (await driver.open(t)).hooks;

/** Polls (bounded) until cond holds: notifications stored by HookEvents are not awaited by the caller. */
async function until(cond: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for: ${what}`);
}

/** A clock whose timers run only when the test advances time. */
class ManualClock implements Clock {
  t = 1_000_000;
  #timers: { at: number; fn: () => void }[] = [];
  now(): number {
    return this.t;
  }
  setTimer(fn: () => void, ms: number): () => void {
    const timer = { at: this.t + ms, fn };
    this.#timers.push(timer);
    return () => {
      this.#timers = this.#timers.filter((x) => x !== timer);
    };
  }
  /** Runs, in time order, every timer due within ms, letting the promises they start settle. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    await settle();
    for (;;) {
      const next = this.#timers.filter((x) => x.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!next) break;
      this.#timers = this.#timers.filter((x) => x !== next);
      this.t = next.at;
      next.fn();
      await settle();
    }
    this.t = end;
  }
}

async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
}

const quiet = () => createLogger({ level: "silent" });

function hook(id: string, extra: Partial<ResolvedHook> = {}): ResolvedHook {
  return {
    id, events: new Set(["file.transferred", "run.succeeded"]), action: { kind: "webhook", url: "http://127.0.0.1:1/", headers: {} },
    timeoutMs: 1000, attempts: 5, backoff: { baseMs: 1000, capMs: 4000, jitter: 0.2 }, ...extra,
  };
}

const facts = (path: string, extra: Partial<HookFacts> = {}): HookFacts => ({ event: "file.transferred", time: "2026-01-01T00:00:00.000Z", job: "outbox", path, ...extra });

async function setup(driver: QueueTestDriver, t: TestContext, hooks: ResolvedHook[], outcome: (f: HookFacts, n: number) => boolean) {
  const clock = new ManualClock();
  const deliveries = await memoryDeliveries(driver, t);
  const tries: { path: string | undefined; at: number; ok: boolean }[] = [];
  const fake = async (_a: HookAction, f: HookFacts): Promise<void> => {
    const n = tries.filter((t) => t.path === f.path).length + 1;
    const ok = outcome(f, n);
    tries.push({ path: f.path, at: clock.now(), ok });
    if (!ok) throw new HookDeliveryError(`refused try ${n}`);
  };
  const d = new HookDispatcher({ deliveries, hooks, logger: quiet(), clock, rng: () => 0.5, deliver: fake });
  return { clock, deliveries, d, tries };
}

// The dispatcher's timing logic on the in-process driver only: ManualClock.advance fires timers
// without waiting for a networked driver's round trips in between. The Postgres deliveries'
// semantics (order per hook, claims across nodes) are in test/queue/postgres.test.ts.
for (const driver of drivers.filter((d) => d.name === "sqlite")) describe(`${driver.name}: HookDispatcher (injected clock)`, () => {
  it("retries with doubling, capped backoff, then gives up after the hook's attempts", async (t) => {
    const { clock, d, tries } = await setup(driver, t, [hook("h")], () => false);
    const gaveUp: number[] = [];
    d.on("gave-up", ({ attempts }) => gaveUp.push(attempts));
    d.start();
    await d.emit(facts("/a"));
    await clock.advance(60_000);
    const t0 = tries[0]!.at;
    assert.deepEqual(tries.map((t) => t.at - t0), [0, 1000, 3000, 7000, 11_000], "waits of 1 s, 2 s, 4 s, then the 4 s cap");
    assert.deepEqual(gaveUp, [5]);
    const row = (await d.store.list())[0]!;
    assert.equal(row.state, "failed");
    assert.equal(row.attempts, 5);
    assert.equal(row.lastError, "refused try 5");
    await d.stop();
  });

  it("delivers one hook's notifications in order: a later one waits for the earlier one's retries", async (t) => {
    const { clock, d, tries } = await setup(driver, t, [hook("h")], (f, n) => f.path !== "/first" || n >= 3);
    d.start();
    await d.emit(facts("/first"), facts("/second"));
    await clock.advance(10_000);
    assert.deepEqual(tries.map((t) => `${t.path}:${t.ok}`), ["/first:false", "/first:false", "/first:true", "/second:true"]);
    assert.deepEqual((await d.store.list()).map((r) => r.state), ["delivered", "delivered"]);
    await d.stop();
  });

  it("other hooks are not held up by a failing one", async (t) => {
    const clock = new ManualClock();
    const good = { kind: "webhook", url: "http://good/", headers: {} } as const;
    const sent: string[] = [];
    const d = new HookDispatcher({
      deliveries: await memoryDeliveries(driver, t), hooks: [hook("bad"), hook("good", { action: good })], logger: quiet(), clock, rng: () => 0.5,
      deliver: async (a, f) => {
        if (a !== good) throw new HookDeliveryError("down");
        sent.push(f.path!);
      },
    });
    d.start();
    await d.emit(facts("/a"), facts("/b"));
    await clock.advance(0);
    assert.deepEqual(sent, ["/a", "/b"], "the good hook delivered both while the bad one waits for its retry");
    assert.deepEqual((await d.store.list({ hook: "bad" })).map((r) => `${r.state}:${r.attempts}`), ["pending:1", "pending:0"]);
    await d.stop();
  });

  it("a notification whose hook left the config (SIGHUP) is given up, saying so", async (t) => {
    const { clock, d } = await setup(driver, t, [hook("h")], () => false);
    d.start();
    await d.emit(facts("/a"));
    await clock.advance(0);
    d.configure([]);
    await clock.advance(10_000);
    const row = (await d.store.list())[0]!;
    assert.equal(row.state, "failed");
    assert.equal(row.lastError, "its hook is no longer in the config");
    await d.stop();
  });

  it("routes: a top-level hook hears every job; a job's hook its own job and its remote", async (t) => {
    const { d } = await setup(driver, t, [
      hook("global", { events: new Set(["file.transferred", "remote.unreachable"]) }),
      hook("photos.hooks[0]", { job: "photos", remote: "backup", events: new Set(["file.transferred", "remote.unreachable"]) }),
    ], () => true);
    const ids = (f: HookFacts) => d.hooksFor(f).map((h) => h.id);
    assert.deepEqual(ids(facts("/x", { job: "photos" })), ["global", "photos.hooks[0]"]);
    assert.deepEqual(ids(facts("/x", { job: "outbox" })), ["global"]);
    assert.deepEqual(ids({ event: "remote.unreachable", time: "t", remote: "backup" }), ["global", "photos.hooks[0]"]);
    assert.deepEqual(ids({ event: "remote.unreachable", time: "t", remote: "other" }), ["global"]);
    assert.deepEqual(ids({ event: "run.failed", time: "t", job: "photos" }), []);
  });

  it("remote health: one event per transition (down, login refused, recovered)", async (t) => {
    const { d } = await setup(driver, t, [hook("g", { events: new Set(["remote.unreachable", "remote.login-refused", "remote.recovered"]) })], () => true);
    const events = new HookEvents(d, () => undefined, () => 0);
    const trouble = (reason: "unreachable" | "login refused") => [{ name: "backup", reason, failures: 1, since: 0, retryAt: 1, lastError: "ECONNREFUSED" }];
    events.remoteHealth(trouble("unreachable"));
    events.remoteHealth(trouble("unreachable")); // backing off further: no new event
    events.remoteHealth(trouble("login refused"));
    events.remoteHealth([]);
    await until(async () => (await d.store.list()).length === 3, "three notifications stored");
    assert.deepEqual((await d.store.list()).map((r) => `${r.event}:${r.facts.remote}`), ["remote.unreachable:backup", "remote.login-refused:backup", "remote.recovered:backup"]);
  });
});

for (const driver of drivers) describe(`${driver.name}: HookEvents`, () => {
  it("a run put back because its remote is down counts as failed (a healthcheck must not see only starts); another deferral does not", async (t) => {
    const clock = new ManualClock();
    const d = new HookDispatcher({ deliveries: await memoryDeliveries(driver, t), hooks: [hook("photos.healthcheck", { job: "photos", events: new Set(["run.started", "run.failed"]) })], logger: quiet(), clock });
    const listeners = new Map<string, (p: unknown) => void>();
    const runner = { on: (e: string, fn: (p: unknown) => void) => (listeners.set(e, fn), () => undefined) };
    const events = new HookEvents(d, () => ({ kind: "mirror", remote: "backup", direction: "upload" }), () => 0);
    events.attach(runner as never);
    const job = { id: 7, kind: "mirror", name: "photos", attempts: 1, concurrencyKey: "backup", payload: { job: "photos" } };
    listeners.get("job:leased")!({ job });
    listeners.get("job:deferred")!({ job, reason: "file still being written", runAfter: 5000 });
    events.remoteHealth([{ name: "backup", reason: "unreachable", failures: 1, since: 0, retryAt: 1, lastError: "ECONNREFUSED" }]);
    listeners.get("job:leased")!({ job });
    listeners.get("job:deferred")!({ job, reason: "remote backup unreachable: ECONNREFUSED", runAfter: 5000 });
    await until(async () => (await d.store.list()).length === 3, "three notifications stored");
    assert.deepEqual((await d.store.list()).map((r) => `${r.event}${r.facts.error ? `: ${r.facts.error}` : ""}`), [
      "run.started", "run.started", "run.failed: put back without using an attempt: remote backup unreachable: ECONNREFUSED",
    ]);
  });
});

describe("deliver(): commands", () => {
  it("a command that exits non-zero fails with its exit code and stderr", async () => {
    await assert.rejects(
      deliver({ kind: "command", argv: [process.execPath, "-e", "console.error('no room in the ingest'); process.exit(3)"], env: {} }, facts("/a"), { id: 1, hook: "h" }, 10_000),
      (err: unknown) => err instanceof HookDeliveryError && /exited with 3: no room in the ingest/.test(err.message),
    );
  });

  it("a program that does not exist fails naming the fix", async () => {
    await assert.rejects(
      deliver({ kind: "command", argv: ["/no/such/ferry-hook"], env: {} }, facts("/a"), { id: 1, hook: "h" }, 10_000),
      /\/no\/such\/ferry-hook: cannot run it \(ENOENT\); give an absolute path or a program on PATH/,
    );
  });
});

for (const driver of drivers) describe(`${driver.name}: HookDispatcher stop`, () => {
  it("a command still running when the grace runs out is killed, and its notification stays pending for the next start", async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "ferry-hookstop-"));
    try {
      const pidFile = join(dir, "pid");
      const hang = hook("hang", { action: { kind: "command", argv: [process.execPath, "-e", `require("fs").writeFileSync(${JSON.stringify(pidFile)}, String(process.pid)); setInterval(() => {}, 1000)`], env: {} }, timeoutMs: 60_000 });
      const d = new HookDispatcher({ deliveries: await memoryDeliveries(driver, t), hooks: [hang], logger: quiet() });
      d.start();
      await d.emit(facts("/a"));
      // The file may exist before its pid is written in it: wait for a whole number.
      const readPid = () => (existsSync(pidFile) ? Number(readFileSync(pidFile, "utf8")) : 0);
      const end = Date.now() + 10_000;
      while (!(readPid() > 0) && Date.now() < end) await new Promise((r) => setTimeout(r, 25));
      const pid = readPid();
      assert.ok(pid > 0, "the hook started");
      await d.stop(100);
      const gone = Date.now() + 5000;
      const alive = () => { try { process.kill(pid, 0); return true; } catch { return false; } };
      while (alive() && Date.now() < gone) await new Promise((r) => setTimeout(r, 25));
      assert.equal(alive(), false, "the hook's process is gone with the daemon");
      const rows = await d.store.list();
      assert.deepEqual(rows.map((r) => `${r.state}:${r.attempts}`), ["pending:0"]);
      assert.ok(rows[0]!.nextAttemptAt <= Date.now(), "due again at once, not when a claim runs out");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("hooks config", () => {
  const base = { remotes: { backup: { url: "ftp://u@h/" } }, jobs: [{ name: "photos", kind: "mirror", source: "./p", target: "backup:/p", schedule: "* * * * *" }] };
  const parse = (extra: Record<string, unknown>) => parseConfig("f.json", JSON.stringify({ ...base, ...extra }), daemonConfigSchema, {});

  it("refuses a shell string, two actions, and unknown events, each by its path", () => {
    assert.throws(() => parse({ hooks: [{ on: ["file.transferred"], command: "curl -X POST x" }] }), /hooks\[0\]\.command: an argv list such as \["\/usr\/local\/bin\/ingest", "--from", "ferry"\]: ferry never runs a shell/);
    assert.throws(() => parse({ hooks: [{ on: ["file.transferred"], command: ["/bin/true"], webhook: { url: "https://x/" } }] }), /hooks\[0\]\.command: give exactly one of command/);
    assert.throws(() => parse({ hooks: [{ on: ["file.uploaded"], command: ["/bin/true"] }] }), /hooks\[0\]\.on\[0\]: an event is one of file\.transferred/);
    assert.throws(() => parse({ hooks: [{ on: ["job.dead"], webhook: { url: "ftp://x/" } }] }), /hooks\[0\]\.webhook\.url: unsupported scheme "ftp"/);
  });

  it("a healthcheck url gives /start, the url itself and /fail; ids name each hook's place", () => {
    const cfg = parse({
      hooks: [{ on: ["job.dead"], webhook: { url: "https://alerts.example/ferry" } }],
      jobs: [{ ...base.jobs[0], hooks: [{ on: ["file.transferred"], command: ["/usr/bin/logger"] }], healthcheck: { url: "https://hc-ping.com/abc/" } }],
    });
    const hooks = resolveHooks(cfg.hooks, cfg.jobs, () => "backup");
    assert.deepEqual(hooks.map((h) => h.id), ["hooks[0]", "photos.hooks[0]", "photos.healthcheck"]);
    assert.deepEqual(hooks[2]!.action, { kind: "ping", start: "https://hc-ping.com/abc/start", success: "https://hc-ping.com/abc/", fail: "https://hc-ping.com/abc/fail" });
    assert.equal(hooks[1]!.remote, "backup");
    assert.equal(hooks[0]!.timeoutMs, 10_000);
    assert.equal(hooks[0]!.attempts, 5);
  });
});
