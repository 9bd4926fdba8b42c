import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { promisify } from "node:util";
import { REPO_ROOT } from "./cli.js";

// Network namespaces for the network fault cases (FAULTS.md C5, C7, C8): each test makes its
// own namespace with only a loopback interface, shapes or drops its traffic with tc and
// iptables, and runs the ferry server and client in it as child processes (Node cannot enter
// a namespace itself). Nothing leaves the namespace: it has no other interface.

const run = promisify(execFile);
let counter = 0;

/** One JSON line a peer process printed (netPeer.ts events, or the server's pino lines). */
export type PeerEvent = Record<string, unknown> & { event?: string; msg?: string };

/** A child process that prints JSON lines on stdout, collected as events. */
export class PeerProcess {
  readonly events: PeerEvent[] = [];
  stderr = "";
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #waiters = new Set<() => void>();

  constructor(readonly child: ChildProcess, readonly label: string) {
    let pending = "";
    child.stdout?.setEncoding("utf8").on("data", (d: string) => {
      pending += d;
      let i;
      while ((i = pending.indexOf("\n")) >= 0) {
        const line = pending.slice(0, i);
        pending = pending.slice(i + 1);
        try {
          this.events.push(JSON.parse(line) as PeerEvent);
        } catch {
          this.events.push({ event: "text", text: line });
        }
      }
      this.#wake();
    });
    child.stderr?.setEncoding("utf8").on("data", (d: string) => {
      this.stderr = (this.stderr + d).slice(-20_000);
    });
    this.exited = new Promise((resolve) => child.on("close", (code, signal) => {
      resolve({ code, signal });
      this.#wake();
    }));
    this.exited.then(() => undefined, () => undefined);
  }

  #wake(): void {
    for (const w of [...this.#waiters]) w();
  }

  /** The first event matching `pred`, waiting for it up to `timeoutMs`; fails with the child's output when it never comes. */
  async waitFor(pred: (e: PeerEvent) => boolean, what: string, timeoutMs = 15_000): Promise<PeerEvent> {
    let exited = false;
    void this.exited.then(() => (exited = true));
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.events.find(pred);
      if (found) return found;
      if (exited || Date.now() >= deadline) {
        throw new Error(`${this.label}: ${what} did not happen within ${timeoutMs} ms${exited ? " (the process exited)" : ""}\n` +
          `events: ${JSON.stringify(this.events.slice(-15))}\nstderr: ${this.stderr.slice(-3000)}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.min(250, Math.max(1, deadline - Date.now())));
        function done(): void { clearTimeout(timer); waiters.delete(done); resolve(); }
        const waiters = this.#waiters;
        waiters.add(done);
      });
    }
  }

  /** SIGKILL (idempotent) and wait for the exit. */
  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
    await this.exited;
  }
}

/** argv of the peer script (test/helpers/netPeer.ts) for a role and its JSON options. */
export function peerArgv(role: "server" | "client", options: object): string[] {
  return [process.execPath, "--import", "tsx", join(REPO_ROOT, "test", "helpers", "netPeer.ts"), role, JSON.stringify(options)];
}

/** Spawn the peer script outside any namespace (plain loopback). */
export function spawnPeer(role: "server" | "client", options: object, label: string = role): PeerProcess {
  const [cmd, ...args] = peerArgv(role, options) as [string, ...string[]];
  return new PeerProcess(spawn(cmd, args, { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"] }), label);
}

/** A network namespace made by a test: loopback only, up. */
export class Netns {
  private constructor(readonly name: string) {}

  /** Create a fresh namespace with a unique name and its loopback up. */
  static async create(): Promise<Netns> {
    const name = `ferry-t${process.pid}-${++counter}`;
    await run("ip", ["netns", "add", name]);
    const ns = new Netns(name);
    try {
      await ns.exec("ip", "link", "set", "lo", "up");
    } catch (err) {
      await ns.delete();
      throw err;
    }
    return ns;
  }

  /** Run a command inside the namespace; rejects with its stderr when it fails. */
  async exec(cmd: string, ...args: string[]): Promise<string> {
    const { stdout } = await run("ip", ["netns", "exec", this.name, cmd, ...args]);
    return stdout;
  }

  /** Start the peer script inside the namespace. */
  spawnPeer(role: "server" | "client", options: object, label: string = role): PeerProcess {
    const argv = peerArgv(role, options);
    return new PeerProcess(spawn("ip", ["netns", "exec", this.name, ...argv], { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"] }), `${label}@${this.name}`);
  }

  /** Delete the namespace (its processes should be gone first); never throws. */
  async delete(): Promise<void> {
    await run("ip", ["netns", "delete", this.name]).catch(() => undefined);
  }
}

/**
 * A namespace for a test, deleted (with the given peers killed first) in `t.after` even when
 * the test fails. Without the privileges for one: a loud failure under CI=true (CI runs as
 * root, so it must work there), a skip elsewhere. Resolves undefined after skipping.
 */
export async function netnsFor(t: TestContext, peers: PeerProcess[]): Promise<Netns | undefined> {
  let ns: Netns;
  try {
    ns = await Netns.create();
  } catch (err) {
    const why = `cannot create a network namespace (needs root, iproute2): ${(err as Error).message}`;
    assert.notEqual(process.env.CI, "true", `${why} — CI must run the network fault cases`);
    t.skip(why);
    return undefined;
  }
  t.after(async () => {
    for (const p of peers) await p.kill();
    await ns.delete();
  });
  return ns;
}
