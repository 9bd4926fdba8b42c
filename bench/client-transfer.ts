// Benchmark: ferry's FTP client engine beside curl, lftp and basic-ftp, one big file
// downloaded (get) and uploaded (put) against vsftpd on loopback, in the same run,
// interleaved. Root only (vsftpd needs a local user).
//
//   node --import tsx bench/client-transfer.ts                  # 1 GiB, 3 runs
//   SIZE_MB=256 RUNS=3 node --import tsx bench/client-transfer.ts
//   CLIENTS="ferry curl" OUT=/tmp/r.json node --import tsx bench/client-transfer.ts
//   FERRY_API=stream ...   # ferry through download(Writable)/upload(Readable) instead of the file API
//
// Every transfer is compared byte for byte with cmp, outside the timing. MB = 10^6 bytes.
// ferry and basic-ftp run in a child node process each: this file bundled by esbuild into
// plain JS (as ferry ships compiled, without the tsx loader's ~35 MB), run with --child.
// Their time is measured inside the child from connect to quit, so node start-up is not
// counted (it is reported separately as "wall"); curl and lftp are timed as whole
// processes. Peak RSS of the ferry child is its getrusage maxrss. CPU per GiB: user+sys of
// curl/lftp (bash `time`) and of the node children from connect to quit (process.cpuUsage).
import { execFile, execFileSync } from "node:child_process";
import { randomFillSync } from "node:crypto";
import { createReadStream, createWriteStream, openSync, writeSync, closeSync } from "node:fs";
import { chown, copyFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { finished } from "node:stream/promises";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { FtpClient } from "../src/client/index.js";
import { startVsftpd, VSFTPD_CANDIDATES } from "../test/helpers/vsftpd.js";
import { tempDir } from "../test/helpers/tmp.js";
import { holdPageReporting } from "./lib/pageReporting.js";

const run = promisify(execFile);
const SELF = fileURLToPath(import.meta.url);
const REPO = join(dirname(SELF), "..");
let CHILD = "";

// The bundle goes to the run's temp dir, beside a node_modules symlink to the repo's, so its
// bare imports (pino, basic-ftp) resolve and nothing is written into the checkout.
async function bundleChild(dir: string): Promise<void> {
  CHILD = join(dir, "client-transfer.mjs");
  await symlink(join(REPO, "node_modules"), join(dir, "node_modules"), "dir");
  execFileSync(join(REPO, "node_modules", ".bin", "esbuild"), [
    SELF, "--bundle", "--platform=node", "--format=esm", "--packages=external", "--log-level=warning", `--outfile=${CHILD}`,
  ], { stdio: "inherit" });
}
const MIB = 1024 * 1024;

interface ChildResult { seconds: number; bytes: number; maxRssKB: number; cpuSeconds: number }
interface Measured { seconds: number; wall: number; cpu: number; rssKB?: number }
interface Row { client: string; direction: "get" | "put"; mbps: number; wall: number; cpuPerGiB: number; rssKB?: number; ok: boolean }
interface Target { host: string; port: number; user: string; password: string }

// ---------------------------------------------------------------- child mode
async function child(args: string[]): Promise<void> {
  const [engine, direction, port, user, password, remote, local] = args as [string, "get" | "put", string, string, string, string, string];
  const t0 = process.hrtime.bigint();
  const cpu0 = process.cpuUsage(); // from connect on, like the timing: node start-up is not the engine's
  let bytes = 0;
  if (engine === "ferry") {
    const client = await FtpClient.connect({ host: "127.0.0.1", port: Number(port), user, password });
    if (process.env.FERRY_API !== "stream") {
      // the file API (downloadFile/uploadFile): reused buffers, what ferry get/put use
      bytes = direction === "get" ? await client.downloadFile(remote, local) : await client.uploadFile(local, remote);
    } else if (direction === "get") {
      const out = createWriteStream(local, { highWaterMark: MIB });
      bytes = await client.download(remote, out);
      out.end();
      await finished(out);
    } else {
      bytes = await client.upload(createReadStream(local, { highWaterMark: Number(process.env.PUT_HWM_KB ?? 1024) * 1024 }), remote);
    }
    await client.quit();
  } else {
    const { Client } = await import("basic-ftp");
    const client = new Client(0);
    await client.access({ host: "127.0.0.1", port: Number(port), user, password });
    if (direction === "get") await client.downloadTo(local, remote);
    else await client.uploadFrom(local, remote);
    client.close();
    bytes = (await stat(local)).size;
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const result: ChildResult = { seconds, bytes, maxRssKB: process.resourceUsage().maxRSS, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
  process.stdout.write(JSON.stringify(result) + "\n");
}

// ---------------------------------------------------------------- parent mode
const LFTP_SET = "set cmd:fail-exit yes; set cmd:interactive no; set net:max-retries 2; set net:persist-retries 0; " +
  "set net:timeout 30; set xfer:clobber on; set ftp:ssl-allow no;";

// Run a command under bash's `time` so its CPU seconds (user + sys) are known too: CPU per GiB
// is the figure that survives a busy machine, where MB/s swing by 2x from run to run.
async function timed(cmd: string, args: string[]): Promise<{ seconds: number; cpu: number }> {
  const t0 = process.hrtime.bigint();
  const { stderr } = await run("bash", ["-c", 'TIMEFORMAT="CPU %U %S"; time "$@" 2>/dev/null', "timed", cmd, ...args],
    { maxBuffer: 16 * MIB, timeout: 600_000 });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const m = /CPU ([\d.]+) ([\d.]+)/.exec(stderr);
  return { seconds, cpu: m ? Number(m[1]) + Number(m[2]) : NaN };
}

async function transfer(client: string, direction: "get" | "put", t: Target, remote: string, local: string): Promise<Measured> {
  const url = `ftp://127.0.0.1:${t.port}/${remote}`;
  switch (client) {
    case "curl": {
      const args = ["-sS", "--fail", "-u", `${t.user}:${t.password}`];
      const r = await timed("curl", direction === "get" ? [...args, "-o", local, url] : [...args, "-T", local, url]);
      return { seconds: r.seconds, wall: r.seconds, cpu: r.cpu };
    }
    case "lftp": {
      const op = direction === "get" ? `get ${remote} -o ${local}` : `put ${local} -o ${remote}`;
      const r = await timed("lftp", ["-c", `${LFTP_SET} open -u ${t.user},${t.password} -p ${t.port} 127.0.0.1; ${op}`]);
      return { seconds: r.seconds, wall: r.seconds, cpu: r.cpu };
    }
    case "ferry":
    case "basic-ftp": {
      const t0 = process.hrtime.bigint();
      const { stdout } = await run(process.execPath, [CHILD, "--child", client, direction, String(t.port), t.user, t.password, remote, local],
        { maxBuffer: MIB, timeout: 600_000 });
      const wall = Number(process.hrtime.bigint() - t0) / 1e9;
      const r = JSON.parse(stdout.trim().split("\n").pop() ?? "{}") as ChildResult;
      return { seconds: r.seconds, wall, cpu: r.cpuSeconds, rssKB: r.maxRssKB };
    }
    default:
      throw new Error(`unknown client ${client}; CLIENTS may hold ferry, curl, lftp, basic-ftp`);
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

async function same(a: string, b: string): Promise<boolean> {
  try {
    await run("cmp", ["-s", a, b]);
    return true;
  } catch {
    return false;
  }
}

async function parent(): Promise<void> {
  const memoryNote = holdPageReporting();
  const sizeMB = Number(process.env.SIZE_MB ?? 1024);
  const runs = Number(process.env.RUNS ?? 3);
  const clients = (process.env.CLIENTS ?? "ferry curl lftp basic-ftp").split(/\s+/).filter(Boolean);
  if (process.getuid?.() !== 0) throw new Error("run as root: vsftpd needs a throwaway local user");
  const bin = VSFTPD_CANDIDATES.find((c) => { try { execFileSync("test", ["-x", c]); return true; } catch { return false; } });
  if (!bin) throw new Error("vsftpd missing: apt-get install -y vsftpd");
  const work = await tempDir("ferry-client-bench-");
  await bundleChild(work.path);
  const server = await startVsftpd(bin);
  try {
    const bytes = sizeMB * MIB;
    const src = join(work.path, "big.bin");
    const fd = openSync(src, "w");
    const block = Buffer.alloc(8 * MIB);
    for (let left = bytes; left > 0; left -= block.length) writeSync(fd, randomFillSync(block), 0, Math.min(left, block.length));
    closeSync(fd);
    const served = join(server.home, "big.bin");
    await copyFile(src, served);
    const uid = Number(execFileSync("id", ["-u", server.user], { encoding: "utf8" }).trim());
    await chown(served, uid, 65534);
    const target: Target = server;
    log(`vsftpd on 127.0.0.1:${server.port}; ${sizeMB} MiB x ${runs} runs; clients: ${clients.join(", ")}`);
    await transfer("curl", "get", target, "big.bin", join(work.path, "warmup.bin")); // untimed warm-up
    await rm(join(work.path, "warmup.bin"));
    const results: Row[] = [];
    for (let r = 1; r <= runs; r++) {
      for (const c of clients) {
        for (const direction of ["get", "put"] as const) {
          const local = direction === "get" ? join(work.path, `dl-${c}.bin`) : src;
          const remote = direction === "get" ? "big.bin" : `up-${c}.bin`;
          await run("sync");
          const res = await transfer(c, direction, target, remote, local);
          const ok = await same(direction === "get" ? local : join(server.home, remote), src);
          const cpuPerGiB = res.cpu / (bytes / 1024 / MIB);
          results.push({ client: c, direction, mbps: bytes / 1e6 / res.seconds, wall: bytes / 1e6 / res.wall, cpuPerGiB, ...(res.rssKB ? { rssKB: res.rssKB } : {}), ok });
          log(`run ${r} ${c} ${direction}: ${(bytes / 1e6 / res.seconds).toFixed(0)} MB/s, cpu ${cpuPerGiB.toFixed(2)} s/GiB${res.rssKB ? `, rss ${(res.rssKB / 1024).toFixed(0)} MiB` : ""}${ok ? "" : " VERIFY FAILED"}`);
          await rm(direction === "get" ? local : join(server.home, remote), { force: true });
        }
      }
    }
    report(results, clients, sizeMB, runs);
    if (memoryNote) process.stdout.write(`\n${memoryNote}\n`);
    if (process.env.OUT) await writeFile(process.env.OUT, JSON.stringify({ sizeMB, runs, results }, null, 1));
  } finally {
    await server.stop();
    await work.remove();
  }
}

function report(results: Row[], clients: string[], sizeMB: number, runs: number): void {
  const cell = (c: string, d: "get" | "put"): { med: number; text: string } => {
    const xs = results.filter((r) => r.client === c && r.direction === d);
    if (xs.length === 0) return { med: NaN, text: "-" };
    const mb = xs.map((x) => x.mbps);
    const bad = xs.filter((x) => !x.ok).length;
    return { med: median(mb), text: `**${median(mb).toFixed(0)}** (${Math.min(...mb).toFixed(0)}–${Math.max(...mb).toFixed(0)})${bad ? ` ${bad} VERIFY FAILED` : ""}` };
  };
  const cpu = (c: string, d: "get" | "put"): string => {
    const xs = results.filter((r) => r.client === c && r.direction === d).map((r) => r.cpuPerGiB);
    return xs.length ? median(xs).toFixed(2) : "-";
  };
  const lines = [`\n## ${sizeMB} MiB, ${runs} runs, vsftpd on loopback (MB/s, median (min–max); client CPU s per GiB, median)\n`,
    "| client | get MB/s | put MB/s | get CPU s/GiB | put CPU s/GiB |", "|---|---|---|---|---|"];
  for (const c of clients) lines.push(`| ${c} | ${cell(c, "get").text} | ${cell(c, "put").text} | ${cpu(c, "get")} | ${cpu(c, "put")} |`);
  for (const d of ["get", "put"] as const) {
    const best = Math.max(...["curl", "lftp"].map((c) => cell(c, d).med).filter((x) => !Number.isNaN(x)));
    const f = cell("ferry", d).med;
    if (Number.isFinite(best) && !Number.isNaN(f)) lines.push(`\nferry ${d} / faster of curl and lftp: **${(f / best).toFixed(2)}**`);
  }
  const fr = results.filter((r) => r.client === "ferry");
  if (fr.length) {
    lines.push(`\nferry peak RSS: **${(Math.max(...fr.map((r) => r.rssKB ?? 0)) / 1024).toFixed(0)} MiB** (getrusage maxrss of the child)`);
    lines.push(`ferry including node start-up (wall): get ${median(fr.filter((r) => r.direction === "get").map((r) => r.wall)).toFixed(0)} MB/s, put ${median(fr.filter((r) => r.direction === "put").map((r) => r.wall)).toFixed(0)} MB/s`);
  }
  process.stdout.write(lines.join("\n") + "\n");
}

function log(msg: string): void {
  process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

if (process.argv[2] === "--child") await child(process.argv.slice(3));
else await parent();
