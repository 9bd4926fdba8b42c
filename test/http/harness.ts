import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pseudoRandomBytes, tempDir } from "../helpers/tmp.js";
import { DaemonProcess, RestartableServer, testConfig, waitUntil } from "../daemon/harness.js";

/** The remote's password: no response of the HTTP surface may contain it. */
export const PASSWORD = "Ferry-Remote-Pa55word-7f3a";
/** The bearer token of the test daemons. */
export const TOKEN = "test-token-0123456789abcdef";

/** A spawned daemon with its HTTP surface on a free loopback port, against ferry's server. */
export interface HttpDaemon {
  readonly dir: string;
  readonly server: RestartableServer;
  readonly daemon: DaemonProcess;
  readonly base: string;
  readonly configFile: string;
  readonly database: string;
  stop(): Promise<{ code: number | null }>;
}

/** Options of startHttpDaemon. */
export interface HttpDaemonOptions {
  /** Extra jobs beside "photos" (an upload mirror run only on demand). */
  readonly jobs?: unknown[];
  /** Extra remotes. */
  readonly remotes?: Record<string, unknown>;
  readonly retryAttempts?: number;
  /** Default: with TOKEN. */
  readonly token?: string | null;
  /** Runs after the FTP server started and before the daemon does: may change the config. */
  readonly beforeStart?: (dir: string, serverPort: number, config: Record<string, unknown>) => Promise<void>;
}

/** Starts ferry's FTP server and a `ferry daemon` with `http` on 127.0.0.1:0; photos/ holds two files. */
export async function startHttpDaemon(o: HttpDaemonOptions = {}): Promise<HttpDaemon> {
  const tmp = await tempDir("ferry-http-");
  const dir = tmp.path;
  await mkdir(join(dir, "srv"));
  await mkdir(join(dir, "photos", "2026"), { recursive: true });
  await writeFile(join(dir, "photos", "a.jpg"), pseudoRandomBytes(50_000, 1));
  await writeFile(join(dir, "photos", "2026", "b.jpg"), pseudoRandomBytes(20_000, 2));
  const server = new RestartableServer(join(dir, "srv"), { name: "edge", password: PASSWORD });
  await server.start();
  const configFile = join(dir, "ferry.json");
  const base = JSON.parse(testConfig({
    dir, url: server.url,
    jobs: [
      // Yearly: it runs when the test asks.
      { name: "photos", kind: "mirror", source: "./photos", target: "srv:/photos", schedule: "0 0 1 1 *", catchUp: false },
      ...(o.jobs ?? []),
    ],
  })) as Record<string, unknown>;
  base.retry = { attempts: o.retryAttempts ?? 1, initialDelay: "100ms", maxDelay: "1s", jitter: 0.2 };
  base.remotes = { srv: { url: `ftp://edge@127.0.0.1:${server.port}/`, password: PASSWORD, connections: 4 }, ...o.remotes };
  base.http = { listen: "127.0.0.1:0", ...(o.token === null ? {} : { token: o.token ?? TOKEN }) };
  await o.beforeStart?.(dir, server.port, base);
  await writeFile(configFile, JSON.stringify(base, null, 2));
  const daemon = new DaemonProcess(configFile);
  await daemon.waitForLog("HTTP API, metrics and dashboard listening");
  const port = daemon.messages("HTTP API, metrics and dashboard listening")[0]!.port as number;
  return {
    dir, server, daemon, configFile, database: join(dir, "var", "ferry.db"), base: `http://127.0.0.1:${port}`,
    async stop() {
      const r = await daemon.stop();
      await server.stop();
      await tmp.remove();
      return r;
    },
  };
}

/** fetch with the bearer token. */
export function authed(init: RequestInit = {}): RequestInit {
  return { ...init, headers: { ...(init.headers as Record<string, string> | undefined), authorization: `Bearer ${TOKEN}` } };
}

/** GET /api/v1/status as JSON. */
export async function status(d: HttpDaemon): Promise<ApiStatus> {
  const res = await fetch(`${d.base}/api/v1/status`);
  if (res.status !== 200) throw new Error(`status: ${res.status} ${await res.text()}`);
  return (await res.json()) as ApiStatus;
}

/** The parts of GET /api/v1/status the tests read. */
export interface ApiStatus {
  daemonPid: number | null;
  ready: { ready: boolean; reason?: string };
  jobs: { name: string; state: string; paused: boolean; lastSuccessAt: string | null; recentTransfers: { path: string; bytes: number; verified: string }[]; counts: Record<string, number> }[];
  remotes: { name: string; url: string; reachable: boolean; connections: number }[];
  running: { id: number; job: string; bytes: number; rate: number; etaSeconds: number | null; files: unknown[] }[];
  dead: { id: number; job: string; lastError: string | null }[];
  paused: { name: string }[];
  queue: Record<string, number>;
}

/** Polls the status until `check` holds. */
export async function waitForStatus(d: HttpDaemon, what: string, check: (s: ApiStatus) => boolean, timeoutMs = 20_000): Promise<ApiStatus> {
  let last: ApiStatus | undefined;
  await waitUntil(async () => check((last = await status(d))), { timeoutMs, what, exited: d.daemon, onTimeout: () => JSON.stringify(last, null, 1).slice(0, 3000) });
  return last!;
}
