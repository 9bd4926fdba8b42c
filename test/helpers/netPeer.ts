// A ferry server or client run as a child process for the network fault cases: inside a
// network namespace (netns.ts), or as a server that a test SIGKILLs and restarts. It reports
// what happens as JSON lines on stdout, which PeerProcess collects.
//
//   node --import tsx test/helpers/netPeer.ts server '{"root":"/d","port":2121,"limits":{...}}'
//   node --import tsx test/helpers/netPeer.ts client '{"op":"get","url":"ftp://u:p@127.0.0.1:2121/f",...}'
import { mkdir } from "node:fs/promises";
import { dirname } from "node:path";
import { pino } from "pino";
import { ClientPool, FtpClient, isRetriable, parseFtpUrl } from "../../src/client/index.js";
import { Authenticator, FtpServer, type ServerLimits } from "../../src/server/index.js";
import { runMirror, transferFile, type RetryPolicy } from "../../src/sync/index.js";

/** Options of the server role. */
export interface PeerServerOptions {
  root: string;
  /** 0 picks a free port (reported in the "listening" event). */
  port: number;
  host?: string;
  limits?: Partial<ServerLimits>;
}

/** Options of the client role. */
export interface PeerClientOptions {
  op: "get" | "put" | "mirror-down" | "mirror-up";
  /** ftp://user:pass@host:port/path (the remote file or folder). */
  url: string;
  /** The local file or folder. */
  local: string;
  /** Size of the file (get/put). */
  size?: number;
  connectTimeoutMs: number;
  commandTimeoutMs: number;
  dataTimeoutMs: number;
  retry: RetryPolicy;
  parallel?: number;
}

const started = performance.now();
const emit = (event: string, fields: Record<string, unknown> = {}): void => {
  process.stdout.write(`${JSON.stringify({ event, ms: Math.round(performance.now() - started), ...fields })}\n`);
};
const describe = (err: unknown): Record<string, unknown> => {
  const e = err as { name?: string; message?: string; code?: unknown; cause?: { name?: string; message?: string } };
  return { errName: e?.name, err: e?.message ?? String(err), code: e?.code, causeName: e?.cause?.name };
};

async function server(o: PeerServerOptions): Promise<void> {
  const authenticator = await Authenticator.create({ root: o.root, anonymous: false, users: [{ name: "user", password: "pass", readOnly: false }] });
  // The server's log goes to stdout as JSON lines too: transfers, aborts, session ends.
  const logger = pino({ level: "info", base: null }, pino.destination({ dest: 1, sync: true }));
  const srv = new FtpServer({ authenticator, host: o.host ?? "127.0.0.1", port: o.port, logger, ...(o.limits ? { limits: o.limits } : {}) });
  const port = await srv.listen();
  emit("listening", { port });
  // Sessions open, so a test can see the server free a session.
  let last = -1;
  setInterval(() => {
    if (srv.sessionCount !== last) emit("sessions", { count: (last = srv.sessionCount) });
  }, 50);
}

async function client(o: PeerClientOptions): Promise<void> {
  const u = parseFtpUrl(o.url);
  let connects = 0;
  const pool = new ClientPool({
    max: o.parallel ?? 1,
    connect: async () => {
      connects++;
      emit("connect", { n: connects });
      return FtpClient.connect({
        host: u.host, port: u.port, user: u.user ?? "user", password: u.password ?? "pass",
        connectTimeoutMs: o.connectTimeoutMs, commandTimeoutMs: o.commandTimeoutMs, dataTimeoutMs: o.dataTimeoutMs,
      });
    },
  });
  let moved = 0;
  let reported = 0;
  const onBytes = (n: number): void => {
    moved += n;
    if (moved - reported >= 16 * 1024 || reported === 0) {
      reported = moved;
      emit("bytes", { total: moved });
    }
  };
  const flushBytes = (): void => {
    if (moved !== reported) emit("bytes", { total: (reported = moved) });
  };
  const onRetry = (err: unknown, retry: number, delayMs: number): void => emit("retry", { retry, delayMs, ...describe(err) });
  try {
    if (o.op === "get" || o.op === "put") {
      if (o.size === undefined) throw new Error("get/put need size");
      await mkdir(dirname(o.local), { recursive: true });
      const t = { localPath: o.local, remotePath: u.path, size: o.size };
      const outcome = await transferFile(t, {
        direction: o.op === "get" ? "download" : "upload", pool, isRetriable, onBytes, onRetry, ...(o.retry ? { retry: o.retry } : {}),
      });
      flushBytes();
      emit("done", { ...outcome, moved, connects });
    } else {
      const outcome = await runMirror({
        direction: o.op === "mirror-down" ? "download" : "upload", localRoot: o.local, remoteRoot: u.path, pool, isRetriable,
        retry: o.retry, parallel: o.parallel ?? 1, progress: { bytes: onBytes },
      });
      const r = outcome.result;
      flushBytes();
      emit("done", {
        transferred: r?.transferred.map((x) => ({ path: x.path, attempts: x.attempts, offset: x.offset, verified: x.verified })),
        failed: r?.failed, moved, connects,
      });
    }
  } catch (err) {
    emit("failed", describe(err));
    process.exitCode = 1;
  } finally {
    await pool.drain();
  }
}

const [role, json] = process.argv.slice(2);
const options = JSON.parse(json ?? "{}") as unknown;
if (role === "server") {
  server(options as PeerServerOptions).catch((err: unknown) => {
    emit("failed", describe(err));
    process.exit(1);
  });
} else if (role === "client") {
  void client(options as PeerClientOptions);
} else {
  process.stderr.write("usage: netPeer.ts server|client JSON\n");
  process.exit(2);
}
