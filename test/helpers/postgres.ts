import { execFile } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type { TestContext } from "node:test";
import pg from "pg";
import { inCI } from "./peers.js";

const run = promisify(execFile);

/** A throwaway Postgres cluster in a temporary folder, on a loopback port; removed by close(). */
export interface PgCluster {
  readonly port: number;
  readonly dir: string;
  /** A URL for the superuser `ferry` (no password: the cluster trusts loopback) to database `db`. */
  url(db?: string): string;
  /** Creates a fresh database and returns its URL. */
  createDatabase(name: string): Promise<string>;
  /** Stops the server (fast shutdown: sessions are cut, as in a restart). */
  stop(): Promise<void>;
  /** Starts it again on the same port and folder. */
  start(): Promise<void>;
  /** Stops, removes the folder. Idempotent. */
  close(): Promise<void>;
}

/** The folder of initdb/pg_ctl: PATH first, then Debian's /usr/lib/postgresql/<newest>/bin. */
export function findPostgresBin(): string | undefined {
  const root = "/usr/lib/postgresql";
  if (existsSync(root)) {
    const versions = readdirSync(root).filter((v) => existsSync(join(root, v, "bin", "initdb"))).sort((a, b) => Number(b) - Number(a));
    if (versions[0]) return join(root, versions[0], "bin");
  }
  for (const dir of (process.env.PATH ?? "").split(":")) if (dir && existsSync(join(dir, "initdb")) && existsSync(join(dir, "pg_ctl"))) return dir;
  return undefined;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/**
 * Starts a Postgres cluster for a test, or skips it (outside CI) / throws (under CI=true) when
 * Postgres is not installed. Postgres refuses to run as root, so as root the cluster belongs to
 * the `postgres` user (Debian's package creates it). Register `t.after(() => cluster.close())`.
 */
export async function startPostgres(t: TestContext): Promise<PgCluster | undefined> {
  const bin = findPostgresBin();
  if (!bin) {
    const msg = 'Postgres not found: install it (apt-get install postgresql); .ci/run does this on CI';
    if (inCI) throw new Error(msg);
    t.skip(msg);
    return undefined;
  }
  const asRoot = process.getuid?.() === 0;
  const dir = mkdtempSync(join(tmpdir(), "ferry-pg-"));
  const dataDir = join(dir, "data");
  let owner = userInfo().username;
  if (asRoot) {
    const { stdout } = await run("id", ["-u", "postgres"]).catch(() => {
      throw new Error("running as root, Postgres needs a non-root user: the Debian package creates `postgres` (apt-get install postgresql)");
    });
    const { stdout: gid } = await run("id", ["-g", "postgres"]);
    chownSync(dir, Number(stdout.trim()), Number(gid.trim()));
    owner = "postgres";
  }
  const as = (cmd: string, args: string[]) => (asRoot ? run("runuser", ["-u", owner, "--", join(bin, cmd), ...args]) : run(join(bin, cmd), args));
  await as("initdb", ["-D", dataDir, "-U", "ferry", "-A", "trust", "-E", "UTF8", "--no-sync", "--locale=C"]);
  const port = await freePort();
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`;
  const start = async () => {
    await as("pg_ctl", ["-D", dataDir, "-l", join(dir, "log"), "-o", options, "-w", "-t", "60", "start"]);
  };
  const stop = async () => {
    await as("pg_ctl", ["-D", dataDir, "-m", "fast", "-w", "-t", "60", "stop"]);
  };
  await start();
  let running = true;
  let closed = false;
  const url = (db = "postgres") => `postgres://ferry@127.0.0.1:${port}/${db}`;
  return {
    port,
    dir,
    url,
    async createDatabase(name) {
      const client = new pg.Client({ connectionString: url() });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
      } finally {
        await client.end();
      }
      return url(name);
    },
    async stop() {
      await stop();
      running = false;
    },
    async start() {
      await start();
      running = true;
    },
    async close() {
      if (closed) return;
      closed = true;
      if (running) await stop().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
