// Benchmark: `ferry mirror --parallel 8` beside `lftp mirror --parallel=8` and
// `rclone sync --transfers 8` (when installed) against vsftpd and/or proftpd on loopback:
// 5,000 files of 4 KiB in 50 folders, upload and download, each followed by a no-change
// re-run. Root only (the servers need a local user). With two or more CPUs the server and its
// sessions run on CPU 0 and the tools on CPU 1 (taskset; PIN=0 turns it off), as two machines
// on a LAN would be.
//
//   node --import tsx bench/mirror.ts                        # FILES=5000 DIRS=50 RUNS=3 SERVER=vsftpd
//   SERVER=proftpd node --import tsx bench/mirror.ts         # proftpd (scripts/install-peers.sh unpacks it)
//   SERVER=both node --import tsx bench/mirror.ts            # vsftpd, then proftpd
//   FILES=1000 RUNS=1 TW_SETTLE_MAX_S=0 node --import tsx bench/mirror.ts   # a quick look
//   TMPDIR=/dev/shm node --import tsx bench/mirror.ts        # take the disk out of it
//   TOOLS=ferry,lftp node --import tsx bench/mirror.ts
//   FERRY_NODE_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof" TOOLS=ferry node --import tsx bench/mirror.ts
//
// ferry runs as plain JS built with esbuild (code splitting, so each subcommand loads only
// its own modules, as the tsc build in dist/ does; one bundle would load every dependency
// of every subcommand at start), without the tsx loader. Every tool is timed as a whole
// process with /usr/bin/time, which also gives peak RSS. The tools take turns within each
// phase, in an order that rotates every run, so the shared machine's noise spreads evenly;
// before each full mirror the run waits (bounded) until loopback TIME_WAIT sockets drain
// (each small file leaves one; tens of thousands slow every tool). Each result tree is
// compared with the source (diff -r) outside the timing. CPU seconds of the tool and of the
// server are reported too: on 2 cores they add up to most of the wall time. Peer settings follow
// /work/shared/bench/peers.sh: dotfiles listed, remote times set where the tool can.
import { execFile, execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { chown, mkdir, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { startVsftpd, VSFTPD_CANDIDATES } from "../test/helpers/vsftpd.js";
import { findPeer } from "../test/helpers/peers.js";
import { sessionProcesses } from "../test/helpers/sessionProcesses.js";
import { tempDir, pseudoRandomBytes } from "../test/helpers/tmp.js";
import { holdPageReporting } from "./lib/pageReporting.js";
import { buildFerryCli } from "./lib/ferryCli.js";
import { onCpu, PIN } from "./lib/pin.js";
import { findProftpd, startProftpd } from "./lib/proftpd.js";

const run = promisify(execFile);
/** The bundled CLI (bench/lib/ferryCli.ts), built at the start of main(). */
let CLI = "";
const FILES = Number(process.env.FILES ?? 5000);
const DIRS = Number(process.env.DIRS ?? 50);
const RUNS = Number(process.env.RUNS ?? 3);
const TOOLS = process.env.TOOLS?.split(",");
/** Extra node flags for ferry, e.g. FERRY_NODE_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof" to profile it. */
const FERRY_NODE_FLAGS = process.env.FERRY_NODE_FLAGS?.split(" ").filter(Boolean) ?? [];
const TW_SETTLE_BELOW = Number(process.env.TW_SETTLE_BELOW ?? 1000);
const TW_SETTLE_MAX_S = Number(process.env.TW_SETTLE_MAX_S ?? 75);
const SERVERS = (process.env.SERVER ?? "vsftpd") === "both" ? ["vsftpd", "proftpd"] : [process.env.SERVER ?? "vsftpd"];
for (const s of SERVERS) if (s !== "vsftpd" && s !== "proftpd") throw new Error(`SERVER=${s}: use vsftpd, proftpd or both`);

/** Wall seconds, peak RSS, the tool's CPU seconds (user+sys) and the server's (vsftpd and its sessions). */
interface Timing { seconds: number; maxRssKB: number; cpu: number; serverCpu: number }
interface Tool { up: (dst: string) => [string, string[]]; down: (remote: string, dst: string) => [string, string[]] }
type Phase = "upload" | "upload no-change" | "download" | "download no-change";
const PHASES: Phase[] = ["upload", "upload no-change", "download", "download no-change"];

/**
 * CPU seconds of a process and its reaped children (/proc/PID/stat utime+stime+cutime+cstime):
 * vsftpd forks a process per session and reaps it, so this is the server's whole CPU.
 */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return fields.slice(11, 15).reduce((sum, f) => sum + Number(f), 0) / 100; // USER_HZ is 100 on Linux
}

async function timed(serverPid: number, cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Timing> {
  const server0 = cpuSeconds(serverPid);
  const { stderr } = await run("/usr/bin/time", ["-f", "TIME %e %M %U %S", cmd, ...args], { env: { ...process.env, ...env }, maxBuffer: 64 << 20 });
  // Sessions end just after the client exits: wait (at most 3 s) until the server has reaped
  // them, or their CPU is not counted yet.
  for (let i = 0; i < 60 && sessionProcesses(serverPid).size > 0; i++) await new Promise((r) => setTimeout(r, 50));
  const m = /TIME ([\d.]+) (\d+) ([\d.]+) ([\d.]+)\s*$/.exec(stderr);
  if (!m) throw new Error(`no timing from ${cmd}: ${stderr.slice(-500)}`);
  return { seconds: Number(m[1]), maxRssKB: Number(m[2]), cpu: Number(m[3]) + Number(m[4]), serverCpu: cpuSeconds(serverPid) - server0 };
}

function timeWaitCount(): number {
  const m = /TCP:.* tw (\d+)/.exec(readFileSync("/proc/net/sockstat", "utf8"));
  return m ? Number(m[1]) : 0;
}

async function settleTimeWait(): Promise<number> {
  for (let i = 0; i < TW_SETTLE_MAX_S * 2 && timeWaitCount() >= TW_SETTLE_BELOW; i++) await new Promise((r) => setTimeout(r, 500));
  return timeWaitCount();
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function tools(src: string, server: { user: string; password: string; port: number }): Record<string, Tool> {
  const url = `ftp://${server.user}:${server.password}@127.0.0.1:${server.port}`;
  const lftpSet = "set cmd:fail-exit yes; set cmd:interactive no; set net:max-retries 2; set net:persist-retries 0; " +
    "set net:timeout 30; set xfer:clobber on; set ftp:ssl-allow no; set ftp:list-options -a; set ftp:use-mdtm-overloaded on;";
  const lftp = (cmd: string): [string, string[]] =>
    onCpu(1, "lftp", ["-c", `${lftpSet} open -u ${server.user},${server.password} -p ${server.port} 127.0.0.1; ${cmd}`]);
  const all: Record<string, Tool> = {
    ferry: {
      up: (d) => onCpu(1, process.execPath, [...FERRY_NODE_FLAGS, CLI, "mirror", src, `${url}/${d}`, "--parallel", "8"]),
      down: (r, d) => onCpu(1, process.execPath, [...FERRY_NODE_FLAGS, CLI, "mirror", `${url}/${r}`, d, "--parallel", "8"]),
    },
    lftp: {
      up: (d) => lftp(`mirror -R --only-newer --parallel=8 ${src} ${d}`),
      down: (r, d) => lftp(`mirror --only-newer --parallel=8 ${r} ${d}`),
    },
  };
  if (findPeer("rclone")) {
    const pass = execFileSync("rclone", ["obscure", server.password], { encoding: "utf8" }).trim();
    const remote = `:ftp,host=127.0.0.1,port=${server.port},user=${server.user},pass=${pass}:`;
    const flags = ["--transfers", "8", "--checkers", "8", "--retries", "1", "--low-level-retries", "2", "-q", "--ftp-writing-mdtm", "--ftp-force-list-hidden"];
    all.rclone = {
      up: (d) => onCpu(1, "rclone", ["sync", ...flags, src, `${remote}${d}`]),
      down: (r, d) => onCpu(1, "rclone", ["sync", ...flags, `${remote}${r}`, d]),
    };
  }
  return Object.fromEntries(Object.entries(all).filter(([name]) => !TOOLS || TOOLS.includes(name)));
}

async function main(): Promise<void> {
  const memoryNote = holdPageReporting();
  CLI = buildFerryCli();
  const tmp = await tempDir("ferry-bench-mirror-");
  try {
    const src = join(tmp.path, "src");
    for (let i = 0; i < FILES; i++) {
      const dir = join(src, `d${String(i % DIRS).padStart(2, "0")}`);
      if (i < DIRS) await mkdir(dir, { recursive: true });
      await writeFile(join(dir, `f${i}.bin`), pseudoRandomBytes(4096, i + 1));
    }
    for (const kind of SERVERS) {
      const results = await benchServer(kind, src, tmp.path);
      report(kind, results);
    }
    if (memoryNote) console.log(memoryNote);
    console.log(PIN ? "the server and its sessions on CPU 0, the tools on CPU 1 (PIN=0 to run unpinned)" : "unpinned");
  } finally {
    await tmp.remove();
  }
}

async function startServer(kind: string): Promise<{ pid: number; home: string; user: string; password: string; port: number; stop: () => Promise<void> }> {
  if (kind === "vsftpd") return startVsftpd(VSFTPD_CANDIDATES[0]!);
  const bin = findProftpd();
  if (!bin) throw new Error("proftpd not found: run scripts/install-peers.sh (it unpacks proftpd-core into /opt/ferry-peers/proftpd), or set PROFTPD_BIN");
  return startProftpd(bin);
}

async function benchServer(kind: string, src: string, tmpPath: string): Promise<Record<string, Record<string, Timing[]>>> {
  const server = await startServer(kind);
  // Sessions are forked later and inherit the listener's CPU.
  if (PIN) execFileSync("taskset", ["-a", "-p", "-c", "0", String(server.pid)], { stdio: "ignore" });
  try {
    const home = await stat(server.home);
    const all = tools(src, server);
    const names = Object.keys(all);
    const results: Record<string, Record<string, Timing[]>> = {};
    const add = (name: string, phase: Phase, t: Timing): void => { ((results[name] ??= {})[phase] ??= []).push(t); };
    for (let r = 0; r < RUNS; r++) {
      const order = names.map((_, i) => names[(i + r) % names.length]!);
      const env = (name: string) => ({ FERRY_STATE_DIR: join(tmpPath, `state-${kind}-${name}-${r}`) });
      const remoteDir = (name: string) => `${name}${r}`;
      const local = (name: string) => join(tmpPath, `back-${kind}-${name}-${r}`);
      for (const name of order) {
        // The remote folder exists, empty, before the upload: rclone 1.60 stops when listing a
        // missing root is answered 450 (proftpd) rather than 550.
        const dir = join(server.home, remoteDir(name));
        await mkdir(dir);
        await chown(dir, home.uid, home.gid);
        const tw = await settleTimeWait();
        const t = await timed(server.pid, ...all[name]!.up(remoteDir(name)), env(name));
        add(name, "upload", t);
        console.error(`${kind} run ${r + 1} ${name} upload ${t.seconds} s (TIME_WAIT before: ${tw})`);
        await run("diff", ["-r", src, join(server.home, remoteDir(name))]);
      }
      for (const name of order) add(name, "upload no-change", await timed(server.pid, ...all[name]!.up(remoteDir(name)), env(name)));
      for (const name of order) {
        const tw = await settleTimeWait();
        const t = await timed(server.pid, ...all[name]!.down(remoteDir(name), local(name)), env(name));
        add(name, "download", t);
        console.error(`${kind} run ${r + 1} ${name} download ${t.seconds} s (TIME_WAIT before: ${tw})`);
        await run("diff", ["-r", src, local(name)]);
      }
      for (const name of order) add(name, "download no-change", await timed(server.pid, ...all[name]!.down(remoteDir(name), local(name)), env(name)));
      for (const name of order) {
        await rm(join(server.home, remoteDir(name)), { recursive: true, force: true });
        await rm(local(name), { recursive: true, force: true });
      }
    }
    return results;
  } finally {
    await server.stop();
  }
}

function report(kind: string, results: Record<string, Record<string, Timing[]>>): void {
  console.log(`mirror of ${FILES} files of 4 KiB in ${DIRS} folders, ${kind} on loopback, ${RUNS} run(s): ` +
    "median seconds (min-max) [peak RSS MiB]");
  console.log(["tool", ...PHASES].map((s, i) => s.padEnd(i === 0 ? 8 : 24)).join(""));
  for (const [name, rec] of Object.entries(results)) {
    console.log([name.padEnd(8), ...PHASES.map((p) => {
      const s = rec[p]!.map((t) => t.seconds);
      return `${median(s).toFixed(2)} (${Math.min(...s).toFixed(2)}-${Math.max(...s).toFixed(2)}) [${Math.round(Math.max(...rec[p]!.map((t) => t.maxRssKB)) / 1024)}]`.padEnd(24);
    })].join(""));
  }
  console.log(`CPU seconds, medians: the tool's own (user+sys) / the server's (${kind} with its sessions)`);
  for (const [name, rec] of Object.entries(results)) {
    console.log([name.padEnd(8), ...PHASES.map((p) => `${median(rec[p]!.map((t) => t.cpu)).toFixed(2)} / ${median(rec[p]!.map((t) => t.serverCpu)).toFixed(2)}`.padEnd(24))].join(""));
  }
  const ferry = results.ferry;
  const peers = Object.entries(results).filter(([n]) => n !== "ferry");
  if (!ferry || peers.length === 0) return;
  console.log("ferry / fastest peer (medians; targets: full mirror <= 0.70, no-change <= 0.50):");
  for (const p of PHASES) {
    const [best, bestMedian] = peers.map(([n, rec]) => [n, median(rec[p]!.map((t) => t.seconds))] as const).sort((a, b) => a[1] - b[1])[0]!;
    const ratio = median(ferry[p]!.map((t) => t.seconds)) / bestMedian;
    const target = p.endsWith("no-change") ? 0.5 : 0.7;
    console.log(`  ${p.padEnd(20)} ${ratio.toFixed(2)} of ${best} ${ratio <= target ? "(met)" : "(not met)"}`);
  }
  const lftp = results.lftp;
  if (!lftp) return;
  console.log("ferry / lftp (medians; issue 13 target, pinned: <= 1.00 in every phase):");
  for (const p of PHASES) {
    const ratio = median(ferry[p]!.map((t) => t.seconds)) / median(lftp[p]!.map((t) => t.seconds));
    console.log(`  ${p.padEnd(20)} ${ratio.toFixed(2)} ${ratio <= 1 ? "(met)" : "(not met)"}`);
  }
}

await main();
