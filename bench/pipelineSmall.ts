// Benchmark (issue 13 parts 1-2): a `mirror --parallel 8` of 1,000 files of 4 KiB in 20
// folders, up to an empty remote folder and back down to an empty local one, through a
// loopback relay that delays every chunk by DELAY_MS each way (40 ms round trip by default;
// no netem here). Each phase runs with pipelining (the default) and with it off (lockstep, as
// before issue 13), against vsftpd (root) and ferry's own server in this process. Prints the
// time, the client writes on control connections, and round trips per file per connection:
// time × connections / (round trip × files).
//
//   node --import tsx bench/pipelineSmall.ts          # DELAY_MS=20 FILES=1000 DIRS=20 PARALLEL=8
//   SERVERS=ferry MODES=pipelined node --import tsx bench/pipelineSmall.ts
import { createServer, connect, type Server, type Socket } from "node:net";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ClientPool, FtpClient, isRetriable } from "../src/client/index.js";
import { forgetPipelineVerdicts } from "../src/client/pipelineDecision.js";
import { createLogger } from "../src/log/index.js";
import { runMirror } from "../src/sync/mirror.js";
import { startVsftpd, VSFTPD_CANDIDATES } from "../test/helpers/vsftpd.js";
import { startFerryServer } from "../test/helpers/ferryServer.js";
import { tempDir, pseudoRandomBytes } from "../test/helpers/tmp.js";

const DELAY_MS = Number(process.env.DELAY_MS ?? 20);
const FILES = Number(process.env.FILES ?? 1000);
const DIRS = Number(process.env.DIRS ?? 20);
const PARALLEL = Number(process.env.PARALLEL ?? 8);
const SERVERS = (process.env.SERVERS ?? "vsftpd,ferry").split(",");
/** Which runs: lockstep (pipelining off, as before issue 13) and/or pipelined. */
const MODES = (process.env.MODES ?? "lockstep,pipelined").split(",").map((m) => m === "pipelined");
const logger = createLogger({ level: process.env.LOG ?? "warn" });
let connCount = 0;

interface DelayRelay { port: number; stats: { writes: number; commands: number }; close(): void }

/** A relay adding `delay` ms each way to every chunk, order kept; counts the client's control writes. */
async function startDelayRelay(targetPort: number, delay: number): Promise<DelayRelay> {
  const sockets = new Set<Socket>();
  const servers = new Set<Server>();
  const stats = { writes: 0, commands: 0 };
  const track = (s: Socket): Socket => { sockets.add(s); s.setNoDelay(true); s.on("close", () => sockets.delete(s)); s.on("error", () => undefined); return s; };
  // One FIFO per direction with one timer: a timer per chunk can fire out of order (each is
  // armed from the loop's cached clock), which would reorder pipelined replies.
  const pipe = (from: Socket, to: Socket, onChunk?: (c: Buffer) => Buffer | Promise<Buffer>): void => {
    const queue: { due: number; act: () => void }[] = [];
    let timer: NodeJS.Timeout | undefined;
    const flush = (): void => {
      timer = undefined;
      const now = Date.now();
      while (queue.length > 0 && queue[0]!.due <= now) queue.shift()!.act();
      if (queue.length > 0) timer = setTimeout(flush, queue[0]!.due - now);
    };
    const later = (due: number, act: () => void): void => {
      queue.push({ due, act });
      timer ??= setTimeout(flush, Math.max(0, due - Date.now()));
    };
    let chain = Promise.resolve();
    from.on("data", (c: Buffer) => {
      const due = Date.now() + delay;
      chain = chain.then(async () => {
        const out = onChunk ? await onChunk(c) : c;
        later(due, () => { if (!to.destroyed) to.write(out); });
      });
    });
    from.on("end", () => { const due = Date.now() + delay; void chain.then(() => later(due, () => to.end())); });
    from.on("close", () => { const due = Date.now() + delay; void chain.then(() => later(due, () => to.destroy())); });
  };
  const relayData = (port: number): Promise<number> => new Promise((resolve) => {
    const srv = createServer((a) => {
      srv.close();
      servers.delete(srv);
      const b = track(connect(port, "127.0.0.1"));
      track(a);
      pipe(a, b);
      pipe(b, a);
    });
    servers.add(srv);
    srv.listen(0, "127.0.0.1", () => resolve((srv.address() as { port: number }).port));
  });
  const control = createServer((client) => {
    track(client);
    const upstream = track(connect(targetPort, "127.0.0.1"));
    pipe(client, upstream, (c) => {
      stats.writes++;
      stats.commands += c.toString("latin1").split("\n").length - 1;
      return c;
    });
    let down = "";
    pipe(upstream, client, async (c) => {
      down += c.toString("latin1");
      let out = "";
      for (let i; (i = down.indexOf("\n")) >= 0; down = down.slice(i + 1)) {
        let line = down.slice(0, i + 1);
        const epsv = /^229 .*\(\|\|\|(\d+)\|\)/.exec(line);
        if (epsv) line = `229 Entering Extended Passive Mode (|||${await relayData(Number(epsv[1]))}|)\r\n`;
        out += line;
      }
      return Buffer.from(out, "latin1");
    });
  });
  await new Promise<void>((r) => control.listen(0, "127.0.0.1", r));
  return {
    port: (control.address() as { port: number }).port, stats,
    close: () => { for (const s of sockets) s.destroy(); for (const s of servers) s.close(); control.close(); },
  };
}

const tmp = await tempDir("ferry-bench-pipeline-");
try {
  const source = join(tmp.path, "source");
  for (let i = 0; i < FILES; i++) {
    const dir = join(source, `d${String(i % DIRS).padStart(2, "0")}`);
    if (i < DIRS) await mkdir(dir, { recursive: true });
    await writeFile(join(dir, `f${i}.bin`), pseudoRandomBytes(4096, i + 1));
  }
  for (const name of SERVERS) {
    const server = name === "ferry"
      ? await (async () => { const s = await startFerryServer(); return { port: s.port, user: "user", password: "pass", home: s.root, stop: () => s.close() }; })()
      : await startVsftpd(VSFTPD_CANDIDATES[0]!);
    const relay = await startDelayRelay(server.port, DELAY_MS);
    try {
      for (const pipelining of MODES) {
        forgetPipelineVerdicts();
        for (const direction of ["upload", "download"] as const) {
          const remoteRoot = `tree-${pipelining ? "p" : "l"}`;
          const local = direction === "upload" ? source : join(tmp.path, `down-${name}-${pipelining}`);
          const pool = new ClientPool({ max: PARALLEL, connect: () => FtpClient.connect({ host: "127.0.0.1", port: relay.port, user: server.user, password: server.password, pipelining, logger: logger.child({ conn: connCount++ }) }) });
          relay.stats.writes = 0;
          relay.stats.commands = 0;
          const t0 = performance.now();
          const out = await runMirror({ direction, localRoot: local, remoteRoot, pool, isRetriable, parallel: PARALLEL, logger });
          const ms = performance.now() - t0;
          await pool.drain();
          if (out.result?.failed.length || (out.result?.transferred.length ?? 0) !== FILES) {
            throw new Error(`${name} ${direction}: ${out.result?.transferred.length} transferred, failed: ${JSON.stringify(out.result?.failed.slice(0, 3))}`);
          }
          const rt = (ms * PARALLEL) / (2 * DELAY_MS * FILES);
          console.log(`${name.padEnd(6)} ${direction.padEnd(8)} ${pipelining ? "pipelined" : "lockstep "}: ${(ms / 1000).toFixed(2)} s, ` +
            `${relay.stats.writes} control writes for ${relay.stats.commands} commands, ${rt.toFixed(2)} round trips per file per connection`);
        }
      }
    } finally {
      relay.close();
      await server.stop();
      await rm(join(tmp.path, "down"), { recursive: true, force: true });
    }
  }
  console.log(`${FILES} files of 4 KiB in ${DIRS} folders, --parallel ${PARALLEL}, ${2 * DELAY_MS} ms round trip (whole mirror: scan, folders, transfers)`);
} finally {
  await tmp.remove();
}
