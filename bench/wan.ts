// Benchmark (issue 13, "Measure"): ferry, lftp and rclone over an emulated distant link. A
// loopback relay (bench/lib/delayRelay.ts) adds DELAY_MS each way to every chunk of the
// control and data connections (40 ms round trip by default; no netem on these machines).
// Each tool runs as a whole process, in turns (the order rotates every run):
//   ferry mirror --parallel 8
//   lftp -c 'mirror [-R] --only-newer --parallel=8 …'
//   rclone sync --transfers 8 --checkers 8
// on FILES files of 4 KiB in DIRS folders plus one file of BIG_MB MB, in four phases: upload,
// no-change after upload, download into an empty folder, no-change after download; against
// vsftpd (root: a throwaway local user) and `ferry serve` (its own process). After every
// phase the tree is checked (size and SHA-256 of every file) and the relay's count of
// transfer commands (STOR, RETR, APPE) in a no-change phase is reported. Prints, per server,
// each tool's median time over RUNS, ferry / best peer, and round trips per small file per
// connection: time × 8 / (round trip × FILES), beside the relay's commands per file.
//
//   node --import tsx bench/wan.ts                    # DELAY_MS=20 RUNS=3 SERVER=both
//   SERVER=vsftpd TOOLS=ferry,lftp RUNS=1 node --import tsx bench/wan.ts
//   FILES=200 BIG_MB=5 RUNS=1 node --import tsx bench/wan.ts      # a quick look
//   RATE_MBPS=100 node --import tsx bench/wan.ts      # also cap each direction (MB/s, 10^6)
import { execFile, execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { startVsftpd, VSFTPD_CANDIDATES } from "../test/helpers/vsftpd.js";
import { findPeer } from "../test/helpers/peers.js";
import { tempDir } from "../test/helpers/tmp.js";
import { startDelayRelay, type DelayRelay } from "./lib/delayRelay.js";
import { buildFerryCli } from "./lib/ferryCli.js";
import { startFerryServe, type BenchServer } from "./lib/ferryServe.js";
import { compareDigests, makeTree, treeDigest } from "./lib/tree.js";

const run = promisify(execFile);
const DELAY_MS = Number(process.env.DELAY_MS ?? 20);
const RUNS = Number(process.env.RUNS ?? 3);
const FILES = Number(process.env.FILES ?? 1000);
const DIRS = Number(process.env.DIRS ?? 20);
const BIG_MB = Number(process.env.BIG_MB ?? 50);
const PARALLEL = 8;
const RATE = process.env.RATE_MBPS ? Number(process.env.RATE_MBPS) * 1e6 : undefined;
const SERVERS = (process.env.SERVER ?? "both") === "both" ? ["vsftpd", "ferry"] : [process.env.SERVER!];
const TOOLS = process.env.TOOLS?.split(",") ?? ["ferry", "lftp", "rclone"];
/** Before a full transfer, wait (at most TW_SETTLE_MAX_S) until loopback TIME_WAIT sockets are fewer than this. */
const TW_SETTLE_BELOW = Number(process.env.TW_SETTLE_BELOW ?? 8000);
const TW_SETTLE_MAX_S = Number(process.env.TW_SETTLE_MAX_S ?? 30);

type Phase = "upload" | "no-change after upload" | "download" | "no-change after download";
const PHASES: Phase[] = ["upload", "no-change after upload", "download", "no-change after download"];
interface Tool { up: (src: string, remote: string) => [string, string[]]; down: (remote: string, dst: string) => [string, string[]] }
interface Sample { seconds: number; commands: number; transfers: number; peakControl: number; dataConnections: number; verbs: Record<string, number> }

for (const s of SERVERS) if (s !== "vsftpd" && s !== "ferry") throw new Error(`SERVER=${s}: use vsftpd, ferry or both`);
for (const t of TOOLS) if (!["ferry", "lftp", "rclone"].includes(t)) throw new Error(`TOOLS: unknown tool ${t} (ferry, lftp, rclone)`);
for (const t of TOOLS.filter((t) => t !== "ferry")) if (!findPeer(t)) throw new Error(`${t} not found: apt-get install ${t}, or leave it out with TOOLS=`);

function tools(cli: string, port: number, server: BenchServer): Record<string, Tool> {
  const url = `ftp://${server.user}:${server.password}@127.0.0.1:${port}`;
  // As bench/mirror.ts: dotfiles listed, remote times set where the tool can.
  const lftpSet = "set cmd:fail-exit yes; set cmd:interactive no; set net:max-retries 2; set net:persist-retries 0; " +
    "set net:timeout 30; set xfer:clobber on; set ftp:ssl-allow no; set ftp:list-options -a; set ftp:use-mdtm-overloaded on;";
  const lftp = (cmd: string): [string, string[]] =>
    ["lftp", ["-c", `${lftpSet} open -u ${server.user},${server.password} -p ${port} 127.0.0.1; ${cmd}`]];
  const pass = TOOLS.includes("rclone") ? execFileSync("rclone", ["obscure", server.password], { encoding: "utf8" }).trim() : "";
  const remote = `:ftp,host=127.0.0.1,port=${port},user=${server.user},pass=${pass}:`;
  const rclone = ["sync", "--transfers", String(PARALLEL), "--checkers", String(PARALLEL), "--retries", "1", "--low-level-retries", "2", "-q",
    "--ftp-writing-mdtm", "--ftp-force-list-hidden"];
  const all: Record<string, Tool> = {
    ferry: {
      up: (src, r) => [process.execPath, [cli, "mirror", src, `${url}/${r}`, "--parallel", String(PARALLEL)]],
      down: (r, dst) => [process.execPath, [cli, "mirror", `${url}/${r}`, dst, "--parallel", String(PARALLEL)]],
    },
    lftp: {
      up: (src, r) => lftp(`mirror -R --only-newer --parallel=${PARALLEL} ${src} ${r}`),
      down: (r, dst) => lftp(`mirror --only-newer --parallel=${PARALLEL} ${r} ${dst}`),
    },
    rclone: {
      up: (src, r) => ["rclone", [...rclone, src, `${remote}${r}`]],
      down: (r, dst) => ["rclone", [...rclone, `${remote}${r}`, dst]],
    },
  };
  return Object.fromEntries(TOOLS.map((t) => [t, all[t]!]));
}

function timeWaitCount(): number {
  const m = /TCP:.* tw (\d+)/.exec(readFileSync("/proc/net/sockstat", "utf8"));
  return m ? Number(m[1]) : 0;
}

async function settleTimeWait(): Promise<void> {
  for (let i = 0; i < TW_SETTLE_MAX_S * 2 && timeWaitCount() >= TW_SETTLE_BELOW; i++) await new Promise((r) => setTimeout(r, 500));
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Run one tool as a process through the relay; wall time and what the relay saw. */
async function timed(relay: DelayRelay, [cmd, args]: [string, string[]], env: NodeJS.ProcessEnv): Promise<Sample> {
  relay.reset();
  const t0 = performance.now();
  try {
    await run(cmd, args, { env: { ...process.env, ...env }, maxBuffer: 64 << 20 });
  } catch (err) {
    const e = err as { stderr?: string; code?: number };
    throw new Error(`${cmd} ${args.slice(0, 3).join(" ")} … failed (exit ${e.code}): ${String(e.stderr ?? err).slice(-600)}`);
  }
  const seconds = (performance.now() - t0) / 1000;
  const v = relay.stats.verbs;
  return {
    seconds, commands: relay.stats.commands, transfers: (v.STOR ?? 0) + (v.RETR ?? 0) + (v.APPE ?? 0),
    peakControl: relay.stats.peakControl, dataConnections: relay.stats.dataConnections, verbs: { ...v },
  };
}

async function check(what: string, want: Map<string, string>, dir: string): Promise<void> {
  const problems = compareDigests(want, await treeDigest(dir));
  if (problems.length > 0) throw new Error(`${what}: the tree differs from the source: ${problems.join("; ")}`);
}

async function benchServer(kind: string, cli: string, tmp: string, src: string, want: Map<string, string>): Promise<Record<string, Record<Phase, Sample[]>>> {
  const server: BenchServer = kind === "vsftpd"
    ? { ...(await startVsftpd(VSFTPD_CANDIDATES[0]!)), name: "vsftpd" }
    : await startFerryServe(cli, join(tmp, "ferry-root"));
  const relay = await startDelayRelay(server.port, { delayMs: DELAY_MS, ...(RATE ? { rateBytesPerSec: RATE } : {}) });
  const rcloneConfig = join(tmp, "rclone.conf");
  await writeFile(rcloneConfig, "");
  const results: Record<string, Record<Phase, Sample[]>> = {};
  try {
    const all = tools(cli, relay.port, server);
    const names = Object.keys(all);
    const add = (name: string, phase: Phase, s: Sample): void => {
      ((results[name] ??= { upload: [], "no-change after upload": [], download: [], "no-change after download": [] })[phase]).push(s);
      console.error(`${kind} run ${results[name][phase].length} ${name.padEnd(6)} ${phase.padEnd(24)} ${s.seconds.toFixed(2)} s, ${s.commands} commands, ` +
        `${s.transfers} transfers, ${s.dataConnections} data connections, ${s.peakControl} control connections at most; ` +
        Object.entries(s.verbs).sort((a, b) => b[1] - a[1]).map(([verb, n]) => `${verb} ${n}`).join(", "));
    };
    for (let r = 0; r < RUNS; r++) {
      const order = names.map((_, i) => names[(i + r) % names.length]!);
      const env = (name: string): NodeJS.ProcessEnv => ({ FERRY_STATE_DIR: join(tmp, `state-${kind}-${name}-${r}`), RCLONE_CONFIG: rcloneConfig });
      const remote = (name: string): string => `${name}${r}`;
      const local = (name: string): string => join(tmp, `back-${kind}-${name}-${r}`);
      for (const name of order) {
        await settleTimeWait();
        add(name, "upload", await timed(relay, all[name]!.up(src, remote(name)), env(name)));
        await check(`${name} upload to ${kind}`, want, join(server.home, remote(name)));
      }
      for (const name of order) {
        add(name, "no-change after upload", await timed(relay, all[name]!.up(src, remote(name)), env(name)));
        await check(`${name} no-change upload to ${kind}`, want, join(server.home, remote(name)));
      }
      for (const name of order) {
        await settleTimeWait();
        await mkdir(local(name));
        add(name, "download", await timed(relay, all[name]!.down(remote(name), local(name)), env(name)));
        await check(`${name} download from ${kind}`, want, local(name));
      }
      for (const name of order) {
        add(name, "no-change after download", await timed(relay, all[name]!.down(remote(name), local(name)), env(name)));
        await check(`${name} no-change download from ${kind}`, want, local(name));
      }
      for (const name of order) {
        await rm(join(server.home, remote(name)), { recursive: true, force: true });
        await rm(local(name), { recursive: true, force: true });
      }
    }
  } finally {
    await relay.close();
    await server.stop();
  }
  return results;
}

function report(kind: string, results: Record<string, Record<Phase, Sample[]>>): void {
  const names = Object.keys(results);
  const rtt = (2 * DELAY_MS) / 1000;
  console.log(`\n${kind}: ${FILES} files of 4 KiB in ${DIRS} folders + ${BIG_MB} MB, ${2 * DELAY_MS} ms round trip${RATE ? `, ${RATE / 1e6} MB/s each way` : ""}, ` +
    `--parallel ${PARALLEL}, median of ${RUNS} run(s), seconds`);
  const peers = names.filter((n) => n !== "ferry");
  console.log(`| phase | ${names.join(" | ")} |${results.ferry && peers.length ? " ferry / best peer |" : ""}`);
  console.log(`| --- |${names.map(() => " --- |").join("")}${results.ferry && peers.length ? " --- |" : ""}`);
  for (const p of PHASES) {
    const med = (n: string): number => median(results[n]![p].map((s) => s.seconds));
    let ratio = "";
    if (results.ferry && peers.length) {
      const best = peers.map((n) => [n, med(n)] as const).sort((a, b) => a[1] - b[1])[0]!;
      ratio = ` ${(med("ferry") / best[1]).toFixed(2)} (${best[0]}) |`;
    }
    // A no-change phase in which a tool transferred files anyway is marked: it did not see the tree as unchanged.
    const mark = (n: string): string => p.startsWith("no-change") && median(results[n]![p].map((s) => s.transfers)) > 0 ? " (re-sent)" : "";
    console.log(`| ${p} | ${names.map((n) => med(n).toFixed(2) + mark(n)).join(" | ")} |${ratio}`);
  }
  console.log(`round trips per small file per connection (median time × ${PARALLEL} / (${2 * DELAY_MS} ms × ${FILES})) / relay commands per file / most control connections at once / transfer commands (STOR+RETR+APPE):`);
  console.log(`| phase | ${names.join(" | ")} |`);
  console.log(`| --- |${names.map(() => " --- |").join("")}`);
  for (const p of PHASES) {
    console.log(`| ${p} | ${names.map((n) => {
      const ss = results[n]![p];
      const rts = (median(ss.map((s) => s.seconds)) * PARALLEL) / (rtt * FILES);
      return `${rts.toFixed(2)} / ${(median(ss.map((s) => s.commands)) / FILES).toFixed(2)} / ${Math.max(...ss.map((s) => s.peakControl))} / ${median(ss.map((s) => s.transfers))}`;
    }).join(" | ")} |`);
  }
}

async function main(): Promise<void> {
  const cli = buildFerryCli();
  const tmp = await tempDir("ferry-bench-wan-");
  try {
    const src = join(tmp.path, "src");
    await makeTree(src, { files: FILES, dirs: DIRS, fileBytes: 4096, bigBytes: BIG_MB * 1e6 });
    const want = await treeDigest(src);
    const all: Array<[string, Record<string, Record<Phase, Sample[]>>]> = [];
    for (const kind of SERVERS) all.push([kind, await benchServer(kind, cli, tmp.path, src, want)]);
    for (const [kind, results] of all) report(kind, results);
    console.log(`\nload average at the end: ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")} (the machine is shared)`);
  } finally {
    await tmp.remove();
  }
}

await main();
