import type { ChildProcess } from "node:child_process";
import { readdir, readFile, stat } from "node:fs/promises";
import { join, relative } from "node:path";
import { after } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Authenticator, FtpServer } from "../../src/server/index.js";
import { openDatabase, JobStore } from "../../src/queue/index.js";
import { spawnFerry } from "../helpers/cli.js";

/** Daemons still running: killed once the test file is done, so one a failed test left behind cannot keep the file's process alive. */
const running = new Set<ChildProcess>();
after(() => {
  for (const child of running) child.kill("SIGKILL");
});

/** A spawned `ferry daemon`, with its stderr parsed into JSON log lines. */
export class DaemonProcess {
  readonly child: ChildProcess;
  readonly lines: Record<string, unknown>[] = [];
  stderr = "";
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(configFile: string, env: NodeJS.ProcessEnv = {}) {
    this.child = spawnFerry(["daemon", "--config", configFile], { FERRY_LOG_LEVEL: "info", ...env });
    running.add(this.child);
    this.child.once("exit", () => running.delete(this.child));
    let partial = "";
    this.child.stderr!.setEncoding("utf8").on("data", (d: string) => {
      this.stderr += d;
      partial += d;
      const parts = partial.split("\n");
      partial = parts.pop() ?? "";
      for (const line of parts) {
        try {
          this.lines.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          this.lines.push({ msg: line, raw: true });
        }
      }
    });
    this.child.stdout!.resume();
    this.exited = new Promise((resolve) => this.child.on("exit", (code, signal) => resolve({ code, signal })));
  }

  /** Log lines whose msg equals `msg`. */
  messages(msg: string): Record<string, unknown>[] {
    return this.lines.filter((l) => l.msg === msg);
  }

  /** Resolves once a log line with this msg appears; rejects when the process exits first or time runs out. */
  async waitForLog(msg: string, timeoutMs = 30_000): Promise<void> {
    await waitUntil(() => this.messages(msg).length > 0, { timeoutMs, what: `log "${msg}"`, onTimeout: () => this.stderr.slice(-3000), exited: this });
  }

  kill(signal: NodeJS.Signals = "SIGKILL"): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }

  /** SIGTERM and wait for the exit (SIGKILL after timeoutMs). */
  async stop(timeoutMs = 20_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    this.kill("SIGTERM");
    const timer = setTimeout(() => this.kill("SIGKILL"), timeoutMs);
    const r = await this.exited;
    clearTimeout(timer);
    return r;
  }
}

/** Polls `check` every 25 ms until it is true; throws naming `what` after timeoutMs. */
export async function waitUntil(check: () => boolean | Promise<boolean>, o: { timeoutMs: number; what: string; onTimeout?: () => string; exited?: DaemonProcess }): Promise<void> {
  const end = Date.now() + o.timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    const child = o.exited?.child;
    if (child && (child.exitCode !== null || child.signalCode !== null)) {
      throw new Error(`daemon exited (${child.exitCode ?? child.signalCode}) while waiting for ${o.what}:\n${o.onTimeout?.() ?? ""}`);
    }
    await sleep(25);
  }
  throw new Error(`timed out after ${o.timeoutMs} ms waiting for ${o.what}${o.onTimeout ? `:\n${o.onTimeout()}` : ""}`);
}

/** Every regular file under root, as relative path → bytes (hidden names included). */
export async function readTree(root: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const walk = async (dir: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
      throw err;
    }
    for (const e of entries) {
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) {
        try {
          out.set(relative(root, p), await readFile(p));
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err; // renamed away meanwhile
        }
      }
    }
  };
  await walk(root);
  return out;
}

/** Names in a folder (empty when it does not exist). */
export async function listNames(dir: string): Promise<string[]> {
  return readdir(dir).catch(() => []);
}

/** Whether a path exists. */
export async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

/** An FTP server on 127.0.0.1 that can be stopped and started again on the same port and root. */
export class RestartableServer {
  #server: FtpServer | undefined;
  port = 0;

  constructor(readonly root: string, readonly user = { name: "user", password: "pass" }) {}

  async start(): Promise<void> {
    const authenticator = await Authenticator.create({ root: this.root, users: [{ ...this.user, readOnly: false }], anonymous: false });
    this.#server = new FtpServer({ authenticator, host: "127.0.0.1", port: this.port });
    this.port = await this.#server.listen();
  }

  async stop(): Promise<void> {
    await this.#server?.close(0);
    this.#server = undefined;
  }

  get url(): string {
    return `ftp://${this.user.name}:${this.user.password}@127.0.0.1:${this.port}/`;
  }
}

/** The queue's counts by state, and the transfer history, read the way `ferry status` does. */
export function readQueue(database: string): {
  leased: number; waiting: number; dead: number; done: number; leaseOwners: string[]; transfers: { path: string; jobName: string }[];
} {
  const db = openDatabase(database, { readonly: true });
  try {
    const store = new JobStore(db);
    const jobs = store.listJobs({ limit: 100_000 });
    const count = (...states: string[]) => jobs.filter((j) => states.includes(j.state)).length;
    return {
      leaseOwners: jobs.filter((j) => j.state === "leased").map((j) => j.leaseOwner ?? "?"),
      leased: count("leased"), waiting: count("queued", "failed"), dead: count("dead"), done: count("done"),
      transfers: store.transfers.list({ limit: 100_000 }).map((t) => ({ path: t.path, jobName: t.jobName })),
    };
  } finally {
    db.close();
  }
}

/** A daemon config (JSON) for tests: short windows, quick retries. */
export function testConfig(o: { dir: string; url: string; jobs: unknown[]; extra?: Record<string, unknown> }): string {
  return JSON.stringify({
    database: join(o.dir, "var", "ferry.db"),
    workers: 4,
    logLevel: "info",
    leaseTimeout: "5s",
    shutdownGrace: "5s",
    retry: { attempts: 100, initialDelay: "100ms", maxDelay: "1s", jitter: 0.2 },
    remotes: { srv: { url: o.url, connections: 4 } },
    jobs: o.jobs,
    ...o.extra,
  }, null, 2);
}
