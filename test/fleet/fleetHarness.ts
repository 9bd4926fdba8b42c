import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { daemonConfigSchema } from "../../src/config/index.js";
import { DaemonProcess, waitUntil } from "../daemon/harness.js";
import { REPO_ROOT, runFerry } from "../helpers/cli.js";
import { startFerryServer, type RunningFerryServer } from "../helpers/ferryServer.js";
import { pseudoRandomBytes, tempDir } from "../helpers/tmp.js";
import { compareDigests } from "../../bench/lib/tree.js";
import { countPaths, pathsNamed, startSessionCounter, type CountedSession, type PathCounts, type SessionCounter } from "./fleetHarnessSessions.js";

// N real `ferry daemon` processes (from source, as test/daemon does) sharing one queue and
// one mirror: the same `database:` (a SQLite path for one node, a Postgres URL for a fleet),
// `node: node-1..N`, each its own config file and folder, one upload mirror from a shared
// folder to ferry's server. The server sits behind a SessionCounter that allows
// `serverCap` control connections in all and counts them; a bench may put a WAN relay in
// between (`via`). Used by test/fleet/multiNode.test.ts and bench/fleet.ts.

/** The mirror every node runs. */
export const MIRROR = "mirror";
/** Where the mirror puts the tree on the server. */
export const TARGET = "/mirror";

/** Options of Fleet.start. */
export interface FleetOptions {
  /** Daemons to start; default 1. */
  readonly nodes?: number;
  /** A Postgres URL shared by the nodes; default a SQLite file in the fleet's folder (one node only). */
  readonly database?: string;
  /** Per node `remotes.srv.connections` (and the mirror's `parallel`); default 8. */
  readonly connections?: number;
  /** Control connections the server allows in all; default 8. */
  readonly serverCap?: number;
  /** The mirror's cron schedule; default every second. */
  readonly schedule?: string;
  /** The mirror's catchUp; default false (runs start on a tick, or by `ferry jobs run`). */
  readonly catchUp?: boolean;
  /** The mirror's delete; default true (deletions come last, after every part succeeded). */
  readonly delete?: boolean;
  /** `leaseTimeout` of every node; default "5s". */
  readonly leaseTimeout?: string;
  /** Jobs at once per node (`workers`); default 8. */
  readonly workers?: number;
  /** Extra mirrors besides MIRROR (same source), by name → target path; default none. */
  readonly moreMirrors?: Readonly<Record<string, string>>;
  /** Write `node:` into each config; default: with a Postgres database, or when the config schema knows the key. */
  readonly nodeKey?: boolean;
  /** Puts something between the nodes and the counter (a WAN relay); returns the port nodes connect to. */
  readonly via?: (counterPort: number) => Promise<number>;
  /** Environment of every daemon (FERRY_LOG_LEVEL defaults to info). */
  readonly env?: NodeJS.ProcessEnv;
}

/** A jobs table row, as both drivers store it (migrations/0001_init.sql, migrations/postgres/0001_init.sql). */
export interface JobRow {
  readonly id: number;
  readonly kind: string;
  readonly name: string;
  readonly state: string;
  readonly leaseOwner: string | null;
  readonly leaseExpiresAt: number | null;
  readonly createdAt: number;
  readonly finishedAt: number | null;
  readonly lastError: string | null;
}

/** What a kill left behind, for the assertions. */
export interface KillRecord {
  readonly index: number;
  readonly node: string;
  readonly pid: number;
  /** Date.now() at the SIGKILL. */
  readonly at: number;
  /** The node's control connections open at the kill (found through /proc while it was stopped). */
  readonly sessions: readonly CountedSession[];
  /** Final paths those sessions named in STOR/APPE/RNFR/RNTO and had not published (their transfers were cut). */
  readonly cut: ReadonlySet<string>;
  /** Its leased jobs at the kill. */
  readonly leases: readonly JobRow[];
}

/** Whether this build has the fleet features (the config takes `node:`, the Postgres driver exists). */
export function fleetFeaturesPresent(): boolean {
  const probe = daemonConfigSchema.safeParse({
    node: "probe", remotes: { srv: { url: "ftp://u:p@127.0.0.1:21/" } },
    jobs: [{ name: "m", kind: "mirror", source: "/tmp", target: "srv:/m", schedule: "* * * * *" }],
  });
  return probe.success && existsSync(join(REPO_ROOT, "src", "queue", "postgres", "index.ts"));
}

/** Writes `files` files of 1–4 KiB under `root`, 50 to a folder, distinct contents. */
export async function makeSmallTree(root: string, files: number): Promise<void> {
  for (let i = 0; i < files; i++) {
    const dir = join(root, `d${String(Math.floor(i / 50)).padStart(3, "0")}`);
    if (i % 50 === 0) await mkdir(dir, { recursive: true });
    await writeFile(join(dir, `f${i}.bin`), pseudoRandomBytes(1024 + ((i * 2861) % 3072), i + 1));
  }
}

/** One daemon of the fleet. */
export class FleetNode {
  process: DaemonProcess | undefined;
  constructor(readonly index: number, readonly name: string, readonly configFile: string) {}

  get pid(): number {
    const pid = this.process?.child.pid;
    if (pid === undefined) throw new Error(`${this.name} is not running`);
    return pid;
  }

  get running(): boolean {
    const c = this.process?.child;
    return c !== undefined && c.exitCode === null && c.signalCode === null;
  }
}

/** A running fleet: server, counter, nodes. close() stops and removes everything. */
export class Fleet {
  // parameters
  readonly database: string;
  readonly source: string;
  readonly options: FleetOptions;
  // internal state
  readonly nodes: FleetNode[] = [];
  readonly kills: KillRecord[] = [];

  private constructor(
    readonly dir: { path: string; remove: () => Promise<void> },
    readonly server: RunningFerryServer,
    readonly counter: SessionCounter,
    options: FleetOptions,
  ) {
    this.options = options;
    this.source = join(dir.path, "shared");
    this.database = options.database ?? join(dir.path, "queue.db");
  }

  /** Server, counter and config files; the tree comes from `fill(sourceFolder)`; no node is started yet. */
  static async create(options: FleetOptions, fill: (source: string) => Promise<void>): Promise<Fleet> {
    const nodes = options.nodes ?? 1;
    if (nodes > 1 && !options.database) throw new Error("several nodes need a shared database: give a Postgres URL");
    const dir = await tempDir("ferry-fleet-");
    const server = await startFerryServer({ root: join(dir.path, "server") }).catch(async (err: unknown) => {
      await dir.remove();
      throw err;
    });
    const counter = await startSessionCounter({ targetPort: server.port, maxSessions: options.serverCap ?? 8 }).catch(async (err: unknown) => {
      await server.close();
      await dir.remove();
      throw err;
    });
    const fleet = new Fleet(dir, server, counter, options);
    try {
      await mkdir(server.root, { recursive: true });
      await mkdir(fleet.source, { recursive: true });
      await fill(fleet.source);
      const port = options.via ? await options.via(counter.port) : counter.port;
      // A Postgres queue needs node names; a build without `node:` then refuses the config, loudly.
      const nodeKey = options.nodeKey ?? (fleetFeaturesPresent() || fleet.database.startsWith("postgres"));
      for (let i = 0; i < nodes; i++) {
        const name = `node-${i + 1}`;
        const home = join(dir.path, name);
        await mkdir(home);
        const configFile = join(home, "ferry.json");
        await writeFile(configFile, JSON.stringify(fleet.#config(name, port, nodeKey), null, 2));
        fleet.nodes.push(new FleetNode(i, name, configFile));
      }
    } catch (err) {
      await fleet.close();
      throw err;
    }
    return fleet;
  }

  #config(name: string, port: number, nodeKey: boolean): Record<string, unknown> {
    const o = this.options;
    const connections = o.connections ?? 8;
    const mirror = (jobName: string, target: string) => ({
      name: jobName, kind: "mirror", source: this.source, target: `srv:${target}`,
      schedule: o.schedule ?? "* * * * * *", catchUp: o.catchUp ?? false, delete: o.delete ?? true, parallel: connections,
    });
    return {
      database: this.database,
      ...(nodeKey ? { node: name } : {}),
      workers: o.workers ?? 8,
      logLevel: "info",
      leaseTimeout: o.leaseTimeout ?? "5s",
      shutdownGrace: "5s",
      retry: { attempts: 100, initialDelay: "100ms", maxDelay: "1s", jitter: 0.2 },
      remotes: { srv: { url: `ftp://user:pass@127.0.0.1:${port}/`, connections } },
      jobs: [mirror(MIRROR, TARGET), ...Object.entries(o.moreMirrors ?? {}).map(([n, t]) => mirror(n, t))],
    };
  }

  /** Starts node `index` (again, after a kill) and waits for "daemon ready". */
  async startNode(index: number): Promise<FleetNode> {
    const node = this.nodes[index];
    if (!node) throw new Error(`no node ${index}`);
    if (node.running) throw new Error(`${node.name} is already running`);
    node.process = new DaemonProcess(node.configFile, { FERRY_LOG_LEVEL: "info", ...this.options.env });
    await node.process.waitForLog("daemon ready", 60_000);
    return node;
  }

  /** Starts every node at once and waits until all are ready. */
  async startAll(): Promise<void> {
    await Promise.all(this.nodes.map((n) => this.startNode(n.index)));
  }

  /** Queues a run of `mirror` now, as an operator would (`ferry jobs run`). */
  async runNow(mirror = MIRROR): Promise<void> {
    const r = await runFerry(["jobs", "run", mirror, "--config", this.nodes[0]!.configFile], { timeoutMs: 60_000 });
    if (r.code !== 0) throw new Error(`ferry jobs run ${mirror}: exit ${r.code}: ${r.stderr}`);
  }

  /**
   * SIGKILLs node `index` in the middle of its work: SIGSTOP first, so its sockets can be read
   * from /proc without it opening new ones, then the kill. Records its open sessions, the
   * paths they had not published, and its leases.
   */
  async kill(index: number): Promise<KillRecord> {
    const node = this.nodes[index]!;
    const pid = node.pid;
    process.kill(pid, "SIGSTOP");
    let ports: Set<number>;
    let leases: JobRow[];
    try {
      ports = clientPortsOf(pid, this.options.via ? undefined : this.counter.port);
      leases = (await this.jobs()).filter((j) => j.state === "leased" && isOwnedBy(j, node.name, pid));
    } finally {
      process.kill(pid, "SIGKILL");
    }
    const at = Date.now();
    await node.process!.exited;
    const sessions = this.counter.sessions.filter((s) => !s.refused && ports.has(s.clientPort) && (s.closedAt === undefined || s.closedAt >= at - 5));
    const counts = countPaths(sessions);
    const cut = new Set<string>();
    for (const s of sessions) for (const p of pathsNamed(s)) if ((counts.get(p)?.publishes ?? 0) === 0) cut.add(p);
    const record: KillRecord = { index, node: node.name, pid, at, sessions, cut, leases };
    this.kills.push(record);
    return record;
  }

  /** The jobs table (every row), from whichever database holds it. */
  async jobs(): Promise<JobRow[]> {
    return readJobs(this.database);
  }

  /** Stores and publishes per server path, over every session so far. */
  pathCounts(): ReadonlyMap<string, PathCounts> {
    return this.counter.counts;
  }

  /** Final paths under `target` published at least once. */
  publishedCount(target = TARGET): number {
    return this.counter.publishedUnder(target);
  }

  /** Differences between the shared source and the server's copy (size and SHA-256 of each file); [] when equal. */
  async treeDifferences(target = TARGET): Promise<string[]> {
    const remote = join(this.server.root, target);
    if (!existsSync(remote)) return [`${target} does not exist on the server`];
    return compareDigests(await digestTree(this.source), await digestTree(remote));
  }

  /** Waits until the server's copy equals the source: first on the counter's publishes (cheap), then on a full digest every half second. */
  async waitForTree(files: number, o: { timeoutMs: number; target?: string }): Promise<void> {
    const target = o.target ?? TARGET;
    const end = Date.now() + o.timeoutMs;
    // A file whose rename reached the server just before a kill may be in place with its 250
    // unseen (the session was gone): such cut files need not show a publish.
    const unseen = this.kills.reduce((n, k) => n + k.cut.size, 0);
    await waitUntil(() => this.publishedCount(target) >= files - unseen, { timeoutMs: o.timeoutMs, what: `${files} files published under ${target}`, onTimeout: () => this.describe() });
    let last: string[] = [];
    let nextDigestAt = 0;
    await waitUntil(async () => {
      // A digest reads every file: at most one per half second, not one per poll.
      if (Date.now() < nextDigestAt) return false;
      nextDigestAt = Date.now() + 500;
      return (last = await this.treeDifferences(target)).length === 0;
    }, { timeoutMs: Math.max(1000, end - Date.now()), what: `the server's ${target} to equal the source`, onTimeout: () => `${last.join("\n")}\n${this.describe()}` });
  }

  /**
   * Waits until every job of `mirror` queued up to `before` (default: every job, for a mirror
   * with no schedule) is done or dead: the runs begun by then are over. Returns those jobs.
   */
  async waitForRuns(o: { before?: number; timeoutMs: number; mirror?: string }): Promise<JobRow[]> {
    const mirror = o.mirror ?? MIRROR;
    const before = o.before ?? Number.POSITIVE_INFINITY;
    let rows: JobRow[] = [];
    await waitUntil(async () => {
      rows = (await this.jobs()).filter((j) => j.name === mirror && j.createdAt <= before);
      return rows.length > 0 && rows.every((j) => j.state === "done" || j.state === "dead");
    }, { timeoutMs: o.timeoutMs, what: `the runs of ${mirror} to end`, onTimeout: () => `${JSON.stringify(rows.filter((j) => j.state !== "done").slice(0, 10))}\n${this.describe()}` });
    return rows;
  }

  /** Each node's last log lines, for a failure message. */
  describe(): string {
    return this.nodes.map((n) => `--- ${n.name} (${n.running ? "running" : "stopped"}):\n${n.process?.stderr.slice(-1500) ?? ""}`).join("\n");
  }

  /** Stops the running nodes (SIGTERM, then SIGKILL), the counter and the server; removes the folder. */
  async close(): Promise<void> {
    await Promise.all(this.nodes.filter((n) => n.running).map((n) => n.process!.stop(10_000)));
    await this.counter.close();
    await this.server.close();
    await this.dir.remove();
  }
}

/** Whether a lease owner names this node (by name, or by pid as a node without `node:` does). */
export function isOwnedBy(job: JobRow, node: string, pid: number): boolean {
  const owner = job.leaseOwner ?? "";
  return new RegExp(`(^|[^\\w-])${node}($|[^\\w-])`).test(owner) || new RegExp(`(^|\\D)${pid}($|\\D)`).test(owner);
}

/** The rows of the jobs table of a SQLite file or a Postgres URL. */
export async function readJobs(database: string): Promise<JobRow[]> {
  const sql = "SELECT id, kind, name, state, lease_owner, lease_expires_at, created_at, finished_at, last_error FROM jobs ORDER BY id";
  let rows: Record<string, unknown>[];
  if (/^postgres(ql)?:\/\//i.test(database)) {
    const client = new pg.Client({ connectionString: database });
    await client.connect();
    try {
      rows = (await client.query(sql)).rows as Record<string, unknown>[];
    } finally {
      await client.end();
    }
  } else {
    const db = new Database(database, { readonly: true, fileMustExist: true });
    try {
      db.pragma("busy_timeout = 5000");
      rows = db.prepare(sql).all() as Record<string, unknown>[];
    } finally {
      db.close();
    }
  }
  // Postgres returns bigint columns as strings.
  const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
  return rows.map((r) => ({
    id: Number(r.id), kind: String(r.kind), name: String(r.name), state: String(r.state),
    leaseOwner: (r.lease_owner as string | null) ?? null, leaseExpiresAt: num(r.lease_expires_at),
    createdAt: Number(r.created_at), finishedAt: num(r.finished_at), lastError: (r.last_error as string | null) ?? null,
  }));
}

/**
 * Local ports of `pid`'s TCP sockets (to `remotePort` when given), read from /proc: the
 * socket inodes among its open files, matched in /proc/net/tcp{,6}. With a relay between
 * nodes and counter the ports are the relay's, so the caller then attributes nothing.
 */
export function clientPortsOf(pid: number, remotePort: number | undefined): Set<number> {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      // closed meanwhile
    }
  }
  const ports = new Set<number>();
  if (remotePort === undefined) return ports;
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    if (!existsSync(table)) continue;
    for (const line of readFileSync(table, "utf8").split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || !inodes.has(f[9]!)) continue;
      const port = (addr: string) => parseInt(addr.slice(addr.lastIndexOf(":") + 1), 16);
      if (port(f[2]!) === remotePort) ports.add(port(f[1]!));
    }
  }
  return ports;
}

/**
 * relative path → "size sha256" of every file under root (the format of bench/lib/tree.ts's
 * treeDigest), tolerating entries that vanish while it walks: the mirror may be deleting.
 */
export async function digestTree(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const gone = (err: unknown): undefined => {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  };
  const walk = async (dir: string): Promise<void> => {
    for (const e of (await readdir(dir, { withFileTypes: true }).catch(gone)) ?? []) {
      const path = join(dir, e.name);
      if (e.isDirectory()) await walk(path);
      else if (e.isFile()) {
        const bytes = await readFile(path).catch(gone);
        if (bytes) out.set(relative(root, path), `${bytes.length} ${createHash("sha256").update(bytes).digest("hex")}`);
      }
    }
  };
  await walk(root);
  return out;
}
