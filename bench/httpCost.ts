/**
 * Benchmark: what the daemon's HTTP surface costs (issue 14).
 *   npx tsc -p tsconfig.json && node --import tsx bench/httpCost.ts [--idle-seconds N] [--runs N] [--scrapes N] [--node-options=--max-semi-space-size=1]
 * Runs the built daemon (dist/, as installed; not under tsx) with its embedded server and three
 * jobs, idle, without and then with `http`, --runs times each (alternating), and reports the
 * median RSS at the end of the idle window and the median CPU over it. The daemon inherits this
 * process's environment (MALLOC_ARENA_MAX=2 node … measures glibc's arena cap). Then
 * a daemon with 50 jobs and 10,000 transfers in its history: the time of GET /metrics and
 * GET /api/v1/status. Last, what each part of the daemon costs in RSS when imported alone.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const MAIN = join(ROOT, "dist", "src", "cli", "main.js");
const { values } = parseArgs({ options: {
  "idle-seconds": { type: "string", default: "60" }, runs: { type: "string", default: "3" }, scrapes: { type: "string", default: "30" },
  "skip-scrape": { type: "boolean", default: false },
  // e.g. "--max-semi-space-size=1": what V8's young generation costs an idle daemon.
  "node-options": { type: "string", default: "" },
} });
const nodeOptions = values["node-options"].split(" ").filter((o) => o !== "");
const idleSeconds = Number(values["idle-seconds"]);
const runs = Number(values.runs);
const scrapes = Number(values.scrapes);
if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: build first (npx tsc -p tsconfig.json)`);

const TOKEN = "bench-token-0123456789abcdef";
const HASH = "scrypt$16384$8$1$c2FsdHNhbHRzYWx0c2FsdA$" + "A".repeat(43);

async function procStat(pid: number): Promise<{ rssMiB: number; cpuSeconds: number }> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const rssKiB = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
  const fields = (await readFile(`/proc/${pid}/stat`, "utf8")).replace(/^.*\) /, "").split(" ");
  return { rssMiB: rssKiB / 1024, cpuSeconds: (Number(fields[11]) + Number(fields[12])) / 100 };
}

function startDaemon(config: string): Promise<{ child: ChildProcess; port?: number }> {
  const child = spawn(process.execPath, [...nodeOptions, MAIN, "daemon", "--config", config], { env: { ...process.env, FERRY_LOG_LEVEL: "info" }, stdio: ["ignore", "ignore", "pipe"] });
  return new Promise((resolve, reject) => {
    let buffer = "";
    let port: number | undefined;
    child.stderr!.setEncoding("utf8").on("data", (d: string) => {
      buffer += d;
      for (const line of buffer.split("\n")) {
        if (line.includes('"http.ready"')) port = (JSON.parse(line) as { port: number }).port;
        if (line.includes('"daemon.ready"')) resolve({ child, ...(port !== undefined ? { port } : {}) });
      }
    });
    child.on("exit", (code) => reject(new Error(`daemon exited ${code}: ${buffer.slice(-2000)}`)));
  });
}

async function stop(child: ChildProcess): Promise<void> {
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  await exited;
}

async function config(dir: string, o: { http: boolean; jobs: number }): Promise<string> {
  await mkdir(join(dir, "outbox"), { recursive: true });
  const jobs: unknown[] = [
    { name: "outbox", kind: "upload", watch: "./outbox", target: "srv:/inbox" },
    { name: "pull", kind: "mirror", source: "srv:/pub", target: "./pulled", schedule: "0 3 * * *", catchUp: false },
  ];
  // Daily: cronTimes' next-run search walks minute by minute, so a yearly schedule would cost
  // each status read ~13 ms per job (noted in bench/README.md), which is not what is measured here.
  for (let i = jobs.length; i < o.jobs; i++) jobs.push({ name: `push${i}`, kind: "mirror", source: `./data${i}`, target: `srv:/data${i}`, schedule: "0 3 * * *", catchUp: false });
  const file = join(dir, "ferry.json");
  await writeFile(file, JSON.stringify({
    database: "./var/ferry.db",
    remotes: { srv: { url: "ftp://bench@127.0.0.1:1/", password: "bench" } },
    jobs,
    server: { listen: "127.0.0.1:0", root: "./srv", users: [{ name: "bench", passwordHash: HASH }] },
    ...(o.http ? { http: { listen: "127.0.0.1:0", token: TOKEN } } : {}),
  }));
  await mkdir(join(dir, "srv"), { recursive: true });
  return file;
}

/** One idle daemon: RSS after it settled, and CPU over the idle window. */
async function idle(http: boolean): Promise<{ rssMiB: number; cpuPercent: number }> {
  const dir = await mkdtemp(join(tmpdir(), "ferry-bench-http-"));
  try {
    const { child, port } = await startDaemon(await config(dir, { http, jobs: 3 }));
    if (port !== undefined) for (const p of ["/metrics", "/api/v1/status", "/"]) await (await fetch(`http://127.0.0.1:${port}${p}`)).text();
    await sleep(3000); // startup work done
    const a = await procStat(child.pid!);
    await sleep(idleSeconds * 1000);
    const b = await procStat(child.pid!);
    await stop(child);
    return { rssMiB: b.rssMiB, cpuPercent: ((b.cpuSeconds - a.cpuSeconds) / idleSeconds) * 100 };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A daemon with 50 jobs and 10,000 transfers in its history: scrape and status times. */
async function scrapeCost(): Promise<{ metricsMs: number[]; statusMs: number[]; bytes: number; rssMiB: number }> {
  const dir = await mkdtemp(join(tmpdir(), "ferry-bench-http-"));
  try {
    const file = await config(dir, { http: true, jobs: 50 });
    await mkdir(join(dir, "var"), { recursive: true });
    const { openDatabase, JobStore } = await import("../src/queue/index.js");
    const db = openDatabase(join(dir, "var", "ferry.db"));
    const store = new JobStore(db);
    const now = Date.now();
    db.transaction(() => {
      for (let i = 0; i < 10_000; i++) {
        const job = i % 50 < 2 ? (i % 2 ? "pull" : "outbox") : `push${i % 50}`;
        store.transfers.record({ jobId: null, jobName: job, path: `/data/${job}/file${i}.bin`, bytes: 4096 + i, durationMs: 12, verified: "SHA-256", finishedAt: now - (10_000 - i) * 1000 });
      }
    })();
    db.close();
    const { child, port } = await startDaemon(file);
    const time = async (path: string): Promise<number> => {
      const t = performance.now();
      await (await fetch(`http://127.0.0.1:${port}${path}`)).text();
      return performance.now() - t;
    };
    const bytes = (await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()).length;
    const metricsMs: number[] = [];
    const statusMs: number[] = [];
    for (let i = 0; i < scrapes; i++) {
      metricsMs.push(await time("/metrics"));
      statusMs.push(await time("/api/v1/status"));
      await sleep(600); // past the per-scrape cache of the job gauges
    }
    const { rssMiB } = await procStat(child.pid!);
    await stop(child);
    return { metricsMs, statusMs, bytes, rssMiB };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** RSS of a fresh node process after importing each part in turn (cumulative), after a full GC. */
function partsCost(): { part: string; rssMiB: number }[] {
  const dist = join(ROOT, "dist", "src");
  const steps: [string, string][] = [
    ["node alone", ""],
    ["+ queue (better-sqlite3)", `${dist}/queue/index.js`],
    ["+ FTP server", `${dist}/server/index.js`],
    ["+ client and sync engine", `${dist}/sync/index.js`],
    ["+ daemon (scheduler, watcher, node-cron, chokidar, pino)", `${dist}/daemon/index.js`],
    ["+ CLI (commander)", `${dist}/cli/commands/daemon.js`],
    ["+ http module (fastify, prom-client, routes)", `${dist}/http/index.js`],
  ];
  const script = `
    const steps = ${JSON.stringify(steps)};
    const out = [];
    const rss = () => { globalThis.gc(); globalThis.gc(); return process.memoryUsage().rss / 1048576; };
    for (const [part, mod] of steps) { if (mod) await import(mod); out.push({ part, rssMiB: rss() }); }
    console.log(JSON.stringify(out));`;
  const r = spawnSync(process.execPath, ["--expose-gc", "--input-type=module", "-e", script], { cwd: ROOT, encoding: "utf8" });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout) as { part: string; rssMiB: number }[];
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const p95 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.95))]!;

console.log(`node ${process.version}; idle window ${idleSeconds} s, ${runs} runs; daemon node options: ${nodeOptions.join(" ") || "none"}; MALLOC_ARENA_MAX ${process.env.MALLOC_ARENA_MAX ?? "unset"}`);
const offRuns: { rssMiB: number; cpuPercent: number }[] = [];
const onRuns: { rssMiB: number; cpuPercent: number }[] = [];
for (let i = 0; i < runs; i++) {
  offRuns.push(await idle(false));
  onRuns.push(await idle(true));
}
for (const [name, rs] of [["off", offRuns], ["on: ", onRuns]] as const) {
  console.log(`idle daemon, server + 3 jobs, http ${name}: RSS median ${median(rs.map((r) => r.rssMiB)).toFixed(1)} MiB (${rs.map((r) => r.rssMiB.toFixed(1)).join(", ")}), CPU median ${median(rs.map((r) => r.cpuPercent)).toFixed(2)} % (${rs.map((r) => r.cpuPercent.toFixed(2)).join(", ")})`);
}
if (values["skip-scrape"]) process.exit(0);
const s = await scrapeCost();
console.log(`50 jobs, 10,000 transfers: GET /metrics median ${median(s.metricsMs).toFixed(1)} ms, p95 ${p95(s.metricsMs).toFixed(1)} ms (${s.bytes} bytes); GET /api/v1/status median ${median(s.statusMs).toFixed(1)} ms, p95 ${p95(s.statusMs).toFixed(1)} ms; RSS after ${s.rssMiB.toFixed(1)} MiB`);
let prev = 0;
for (const p of partsCost()) {
  console.log(`  ${p.part.padEnd(60)} ${p.rssMiB.toFixed(1).padStart(6)} MiB (${prev === 0 ? "" : "+"}${(p.rssMiB - prev).toFixed(1)})`);
  prev = p.rssMiB;
}
