/**
 * Benchmark: the daemon's outbox path, end to end, on loopback.
 *   node --import tsx bench/daemon-latency.ts [--window MS] [--files N] [--bulk N] [--workers N] [--built]
 * 1. Latency: N files (default 100), one at a time; for each, the time from the producer's
 *    close() in the outbox to the file's appearance under its final name on the server.
 *    p50/p95 are printed with the stability window (default 250 ms) and without it.
 * 2. Throughput: --bulk files (default 1000) of 64 KiB dropped at once; the time from the first
 *    write to the last arrival under its final name.
 * The server is ferry's own, in this process (its folder is watched with fs.watch to time
 * arrivals); the daemon is the real `ferry daemon` process, spawned from source, or with
 * --built from dist/ as installed (build first: npx tsc -p tsconfig.build.json). The daemon's
 * peak and final RSS are printed last.
 */
import { spawn } from "node:child_process";
import { watch, existsSync } from "node:fs";
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Authenticator, FtpServer } from "../src/server/index.js";

/** User + system CPU seconds of a process so far (Linux /proc; NaN elsewhere). */
async function cpuSeconds(pid: number | undefined): Promise<number> {
  try {
    const fields = (await readFile(`/proc/${pid}/stat`, "utf8")).replace(/^.*\) /, "").split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return Number.NaN;
  }
}

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const { values } = parseArgs({ options: {
  window: { type: "string", default: "250" }, files: { type: "string", default: "100" },
  bulk: { type: "string", default: "1000" }, workers: { type: "string", default: "8" },
  built: { type: "boolean", default: false },
} });
const windowMs = Number(values.window);
const files = Number(values.files);
const bulk = Number(values.bulk);
const workers = Number(values.workers);

const work = await mkdtemp(join(tmpdir(), "ferry-bench-daemon-"));
const inbox = join(work, "srv", "inbox");
await mkdir(inbox, { recursive: true });
// The daemon refuses a missing watch folder (a typo until proven otherwise).
await mkdir(join(work, "outbox"), { recursive: true });
const authenticator = await Authenticator.create({ root: join(work, "srv"), users: [{ name: "bench", password: "bench" }] });
const server = new FtpServer({ authenticator, host: "127.0.0.1", port: 0 });
const port = await server.listen();

// Arrival times under final names (hidden names are the temporary .NAME.ferry-part).
const arrivals = new Map<string, number>();
const waiters = new Map<string, () => void>();
const watcher = watch(inbox, (_event, name) => {
  if (!name || name.startsWith(".") || arrivals.has(name) || !existsSync(join(inbox, name))) return;
  arrivals.set(name, performance.now());
  waiters.get(name)?.();
});
const arrived = (name: string) => new Promise<void>((resolve) => (arrivals.has(name) ? resolve() : waiters.set(name, resolve)));

await writeFile(join(work, "ferry.json"), JSON.stringify({
  database: join(work, "var", "ferry.db"), workers, logLevel: "warn",
  remotes: { srv: { url: `ftp://bench:bench@127.0.0.1:${port}/`, connections: workers } },
  jobs: [{ name: "outbox", kind: "upload", watch: join(work, "outbox"), target: "srv:/inbox", stable: windowMs, after: "delete" }],
}));
// The daemon refuses a watch folder that does not exist (issue 14).
await mkdir(join(work, "outbox"));
const cli = values.built ? [join(ROOT, "dist", "src", "cli", "main.js")] : ["--import", "tsx", join(ROOT, "src", "cli", "main.ts")];
const daemon = spawn(process.execPath, [...cli, "daemon", "--config", join(work, "ferry.json")],
  { cwd: ROOT, stdio: ["ignore", "ignore", "inherit"] });
try {
  // One file through the whole path first: the daemon is up and its watcher has scanned.
  const warmup = Buffer.alloc(1024, 1);
  await writeFile(join(work, "outbox", "warmup.bin"), warmup);
  await arrived("warmup.bin");

  const body = Buffer.alloc(64 * 1024, 7);
  const latencies: number[] = [];
  for (let i = 0; i < files; i++) {
    const name = `lat-${i}.bin`;
    const fh = await open(join(work, "outbox", name), "w");
    await fh.write(body);
    await fh.close();
    const closed = performance.now();
    await arrived(name);
    latencies.push(arrivals.get(name)! - closed);
  }
  const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
  const fmt = (ms: number) => `${ms.toFixed(0)} ms`;
  if (files > 0) {
  console.log(`latency over ${files} files of 64 KiB, stability window ${windowMs} ms, ${workers} workers/connections:`);
  console.log(`  close → final name: p50 ${fmt(pct(latencies, 50))}, p95 ${fmt(pct(latencies, 95))}`);
  console.log(`  beyond the window:  p50 ${fmt(pct(latencies, 50) - windowMs)}, p95 ${fmt(pct(latencies, 95) - windowMs)}`);
  }

  if (bulk > 0) {
    const cpuBefore = await cpuSeconds(daemon.pid);
    const start = performance.now();
    await Promise.all(Array.from({ length: bulk }, (_, i) => writeFile(join(work, "outbox", `bulk-${i}.bin`), body)));
    const written = performance.now();
    await Promise.all(Array.from({ length: bulk }, (_, i) => arrived(`bulk-${i}.bin`)));
    const total = performance.now() - start;
    console.log(`throughput: ${bulk} files of 64 KiB dropped at once (written in ${fmt(written - start)}):`);
    const cpu = (await cpuSeconds(daemon.pid)) - cpuBefore;
    console.log(`  all under their final names after ${(total / 1000).toFixed(2)} s (window ${windowMs} ms included) = ${(bulk / (total / 1000)).toFixed(0)} files/s, ${((bulk * 64) / 1024 / (total / 1000)).toFixed(1)} MiB/s`);
    if (!Number.isNaN(cpu)) console.log(`  the daemon process used ${cpu.toFixed(2)} s of CPU for it (${((cpu * 1000) / bulk).toFixed(1)} ms per file)`);
  }
  const status = await readFile(`/proc/${daemon.pid}/status`, "utf8").catch(() => "");
  const mib = (field: string) => (Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1]) / 1024).toFixed(1);
  if (status !== "") console.log(`daemon RSS: peak ${mib("VmHWM")} MiB, now ${mib("VmRSS")} MiB`);
} finally {
  daemon.kill("SIGTERM");
  await new Promise((resolve) => daemon.once("exit", resolve));
  watcher.close();
  await server.close(0);
  await rm(work, { recursive: true, force: true });
}
