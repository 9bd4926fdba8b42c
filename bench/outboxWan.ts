// Benchmark (issue 13, "Measure"): the daemon's outbox over an emulated distant link. The
// real `ferry daemon` process (bundled CLI) watches an outbox and uploads to a remote with
// `connections: 4` through the delay relay (bench/lib/delayRelay.ts, DELAY_MS each way, 40 ms
// round trip by default). FILES files of 64 KiB are dropped at once; the time runs from the
// first write until every file is under its final name on the server with its full size
// (polled on the server's disk), then every file's SHA-256 is checked. Servers: vsftpd
// (root) and `ferry serve` (its own process). Prints each run, the median, and round trips
// per file per connection: time × 4 / (round trip × FILES), beside the relay's commands per
// file. The stability window (STABLE_MS) is part of the time, as it is for a user.
//
//   node --import tsx bench/outboxWan.ts               # DELAY_MS=20 RUNS=3 FILES=200 SERVER=both STABLE_MS=250
//   SERVER=vsftpd RUNS=1 node --import tsx bench/outboxWan.ts
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { appendFileSync } from "node:fs";
import { chown, mkdir, readdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { startVsftpd, VSFTPD_CANDIDATES, stopProcess } from "../test/helpers/vsftpd.js";
import { pseudoRandomBytes, tempDir } from "../test/helpers/tmp.js";
import { startDelayRelay, type DelayRelay } from "./lib/delayRelay.js";
import { buildFerryCli } from "./lib/ferryCli.js";
import { startFerryServe, type BenchServer } from "./lib/ferryServe.js";
import { compareDigests, treeDigest } from "./lib/tree.js";

const DELAY_MS = Number(process.env.DELAY_MS ?? 20);
const RUNS = Number(process.env.RUNS ?? 3);
const FILES = Number(process.env.FILES ?? 200);
const FILE_BYTES = 64 * 1024;
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 4);
const STABLE_MS = Number(process.env.STABLE_MS ?? 250);
/** Longest wait for all files to arrive, seconds. */
const TIMEOUT_S = Number(process.env.TIMEOUT_S ?? 90);
const SERVERS = (process.env.SERVER ?? "both") === "both" ? ["vsftpd", "ferry"] : [process.env.SERVER!];
for (const s of SERVERS) if (s !== "vsftpd" && s !== "ferry") throw new Error(`SERVER=${s}: use vsftpd, ferry or both`);

interface Sample { seconds: number; commands: number; peakControl: number; dataConnections: number }
/** A run in which not every file arrived in time: how many did, and the daemon's last log lines. */
class Missing extends Error {
  constructor(readonly arrived: number, log: string) {
    super(`${arrived} of ${FILES} files arrived within ${TIMEOUT_S} s; the daemon's log ends: ${log.slice(-1500)}`);
  }
}

/** Start the daemon and wait for its "daemon ready" log line (bounded). */
async function startDaemon(cli: string, config: string): Promise<{ daemon: ChildProcess; log: () => string }> {
  const daemon = spawn(process.execPath, [cli, "daemon", "--config", config], { stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  // pino writes its lines to stderr; stdout is read too so that neither pipe fills up.
  daemon.stdout?.resume();
  const lines = createInterface({ input: daemon.stderr! });
  const ready = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 20_000);
    lines.on("line", (line) => {
      log = (log + line + "\n").slice(-3000);
      if (process.env.DAEMON_LOG) appendFileSync(process.env.DAEMON_LOG, line + "\n");
      if (line.includes('"daemon.ready"')) {
        clearTimeout(timer);
        resolve(true);
      }
    });
    daemon.once("exit", () => resolve(false));
  });
  if (!ready) {
    await stopProcess(daemon);
    throw new Error(`ferry daemon did not report ready within 20 s: ${log.slice(-800)}`);
  }
  return { daemon, log: () => log };
}

/** Poll the server's folder until FILES final names hold FILE_BYTES each (bounded); how many did. */
async function allArrived(dir: string, names: Set<string>): Promise<number> {
  const deadline = performance.now() + TIMEOUT_S * 1000;
  const done = new Set<string>();
  while (performance.now() < deadline) {
    for (const name of await readdir(dir)) {
      if (done.has(name) || !names.has(name)) continue;
      // A final name is published whole (temp name, verify, rename), but check the size anyway.
      if ((await stat(join(dir, name)).catch(() => undefined))?.size === FILE_BYTES) done.add(name);
    }
    if (done.size === names.size) return done.size;
    await new Promise((r) => setTimeout(r, 20));
  }
  return done.size;
}

async function oneRun(cli: string, tmp: string, server: BenchServer, relay: DelayRelay, r: number): Promise<Sample> {
  const work = join(tmp, `run-${server.name}-${r}`);
  const outbox = join(work, "outbox");
  const staged = join(work, "staged");
  await mkdir(outbox, { recursive: true });
  await mkdir(staged, { recursive: true });
  const target = `inbox${r}`;
  const serverDir = join(server.home, target);
  await mkdir(serverDir);
  const home = await stat(server.home);
  await chown(serverDir, home.uid, home.gid);
  const config = join(work, "ferry.json");
  await writeFile(config, JSON.stringify({
    database: join(work, "ferry.db"), workers: CONNECTIONS, logLevel: "info",
    remotes: { srv: { url: `ftp://${server.user}@127.0.0.1:${relay.port}/`, password: server.password, connections: CONNECTIONS } },
    jobs: [{ name: "outbox", kind: "upload", watch: outbox, target: `srv:${target}`, stable: STABLE_MS }],
  }));
  const bodies = Array.from({ length: FILES }, (_, i) => pseudoRandomBytes(FILE_BYTES, 1000 * r + i + 1));
  const names = new Set(bodies.map((_, i) => `f${i}.bin`));
  // The same files written in a folder of their own, for the digest the server's copy must match.
  await Promise.all(bodies.map((b, i) => writeFile(join(staged, `f${i}.bin`), b)));
  const { daemon, log } = await startDaemon(cli, config);
  try {
    relay.reset();
    const t0 = performance.now();
    await Promise.all(bodies.map((b, i) => writeFile(join(outbox, `f${i}.bin`), b)));
    const arrived = await allArrived(serverDir, names);
    if (arrived < FILES) throw new Missing(arrived, log());
    const seconds = (performance.now() - t0) / 1000;
    const s = relay.stats;
    const sample = { seconds, commands: s.commands, peakControl: s.peakControl, dataConnections: s.dataConnections };
    const problems = compareDigests(await treeDigest(staged), await treeDigest(serverDir));
    // The daemon's temporary names are gone once the last rename has been answered.
    if (problems.length > 0) throw new Error(`${server.name}: the server's folder differs from what was dropped: ${problems.join("; ")}`);
    return sample;
  } finally {
    await stopProcess(daemon);
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

async function main(): Promise<void> {
  const cli = buildFerryCli();
  const tmp = await tempDir("ferry-bench-outbox-wan-");
  const rows: string[] = [];
  const missing: string[] = [];
  try {
    for (const kind of SERVERS) {
      const server: BenchServer = kind === "vsftpd"
        ? { ...(await startVsftpd(VSFTPD_CANDIDATES[0]!)), name: "vsftpd" }
        : await startFerryServe(cli, join(tmp.path, "ferry-root"));
      const relay = await startDelayRelay(server.port, { delayMs: DELAY_MS });
      const samples: Sample[] = [];
      try {
        for (let r = 0; r < RUNS; r++) {
          let s: Sample;
          try {
            s = await oneRun(cli, tmp.path, server, relay, r);
          } catch (err) {
            // A lost file is a result too (the daemon never reported it stable): say so, go on.
            if (!(err instanceof Missing)) throw err;
            missing.push(`${kind} run ${r + 1}: ${err.arrived} of ${FILES}`);
            console.error(`${kind} run ${r + 1}: ${err.message}`);
            continue;
          }
          samples.push(s);
          console.error(`${kind} run ${r + 1}: ${s.seconds.toFixed(2)} s, ${s.commands} commands, ${s.dataConnections} data connections, ${s.peakControl} control connections at most`);
        }
      } finally {
        await relay.close();
        await server.stop();
      }
      if (samples.length === 0) {
        rows.push(`| ${kind} | no run delivered every file | | | |`);
        continue;
      }
      const t = median(samples.map((s) => s.seconds));
      const rts = (t * CONNECTIONS) / ((2 * DELAY_MS) / 1000 * FILES);
      rows.push(`| ${kind} | ${t.toFixed(2)} (${Math.min(...samples.map((s) => s.seconds)).toFixed(2)}-${Math.max(...samples.map((s) => s.seconds)).toFixed(2)}) | ` +
        `${rts.toFixed(2)} | ${(median(samples.map((s) => s.commands)) / FILES).toFixed(2)} | ${Math.max(...samples.map((s) => s.peakControl))} |`);
    }
  } finally {
    await tmp.remove();
  }
  console.log(`\ndaemon outbox: ${FILES} files of 64 KiB dropped at once, remote connections: ${CONNECTIONS}, ${2 * DELAY_MS} ms round trip, stable ${STABLE_MS} ms, median of the runs that delivered every file`);
  console.log("| server | seconds, median (min-max) | round trips per file per connection | relay commands per file | most control connections at once |");
  console.log("| --- | --- | --- | --- | --- |");
  for (const row of rows) console.log(row);
  if (missing.length > 0) console.log(`runs in which files never arrived (left out of the medians): ${missing.join("; ")}`);
}

await main();
