// Benchmark: one big file over FTPS (explicit AUTH TLS, PROT P, session reuse required),
// ferry's client beside curl, against vsftpd and against ferry's own server, on loopback,
// downloads (get) and uploads (put). Root only (vsftpd needs a local user).
//
//   node --import tsx bench/ftps.ts                      # 1 GiB, 1 run
//   SIZE_MB=256 RUNS=3 node --import tsx bench/ftps.ts
//   SERVERS="ferry" CLIENTS="ferry curl" OUT=/tmp/ftps.json node --import tsx bench/ftps.ts
//
// MB = 10^6 bytes. ferry's client runs in a child node process and times itself from
// connect to quit (node start-up excluded, reported as "wall"); curl is timed as a whole
// process. ferry's server runs as `ferry serve` in its own process, as deployed. Each
// transfer is compared byte for byte with cmp, outside the timing. The ratio is ferry's MB/s
// over curl's on the same server and direction (the target: within 10%, >= 0.90).
// With two or more CPUs (and PIN not 0) the server runs on CPU 0 and the clients on CPU 1
// (taskset): TLS keeps one core busy at each end, and unpinned runs on a 2-core machine
// swung 2x from run to run as the scheduler put both ends on one core. The clients take
// turns, and the order flips every run.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomFillSync } from "node:crypto";
import { closeSync, openSync, readFileSync, writeSync } from "node:fs";
import { chown, copyFile, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { FtpClient } from "../src/client/index.js";
import { generateSelfSignedCert } from "../src/server/index.js";
import { startVsftpd, VSFTPD_CANDIDATES } from "../test/helpers/vsftpd.js";
import { tempDir } from "../test/helpers/tmp.js";
import { holdPageReporting } from "./lib/pageReporting.js";
import { onCpu, PIN } from "./lib/pin.js";

const run = promisify(execFile);
const SELF = fileURLToPath(import.meta.url);
const REPO = join(dirname(SELF), "..");
const MIB = 1024 * 1024;

/** A server under test; `dir` is its login folder on disk, `remoteDir` "" (names relative to the login folder). */
interface Target { name: string; port: number; user: string; password: string; ca: string; dir: string; remoteDir: string; uid?: number; gid?: number }
interface Row { server: string; client: string; direction: "get" | "put"; mbps: number; wall: number; ok: boolean }

// ---------------------------------------------------------------- child mode (ferry's client)
async function child(args: string[]): Promise<void> {
  const [direction, port, user, password, ca, remote, local] = args as ["get" | "put", string, string, string, string, string, string];
  const t0 = process.hrtime.bigint();
  const client = await FtpClient.connect({ host: "127.0.0.1", port: Number(port), user, password, secure: "explicit", tls: { ca: readFileSync(ca) } });
  const bytes = direction === "get" ? await client.downloadFile(remote, local) : await client.uploadFile(local, remote);
  await client.quit();
  process.stdout.write(JSON.stringify({ seconds: Number(process.hrtime.bigint() - t0) / 1e9, bytes }));
}

// ---------------------------------------------------------------- helpers
function makeFile(path: string, bytes: number): void {
  const fd = openSync(path, "w");
  const buf = Buffer.allocUnsafe(8 * MIB);
  for (let left = bytes; left > 0; left -= buf.length) {
    randomFillSync(buf);
    writeSync(fd, buf, 0, Math.min(left, buf.length));
  }
  closeSync(fd);
}

async function same(a: string, b: string): Promise<boolean> {
  return run("cmp", ["-s", a, b]).then(() => true, () => false);
}

async function startFerryServe(root: string, cert: string, key: string): Promise<{ port: number; child: ChildProcess }> {
  const proc = spawn(...onCpu(0, process.execPath, ["--import", "tsx", join(REPO, "src", "cli", "main.ts"), "serve", "--port", "0", "--root", root,
    "--user", "bench:bench", "--tls-cert", cert, "--tls-key", key, "--tls-require-login", "--tls-require-data"]),
  { cwd: REPO, env: { ...process.env, FERRY_LOG_LEVEL: "info" }, stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  proc.stderr!.setEncoding("utf8").on("data", (d: string) => (err += d.length > 100_000 ? "" : d));
  for (let i = 0; i < 300; i++) {
    const m = /"event":"server\.listen"[^\n]*"port":(\d+)/.exec(err);
    if (m) return { port: Number(m[1]), child: proc };
    if (proc.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  proc.kill("SIGKILL");
  throw new Error(`ferry serve did not start: ${err.slice(0, 500)}`);
}

async function timeCurl(t: Target, direction: "get" | "put", src: string, out: string, name: string): Promise<{ seconds: number; wall: number }> {
  const url = `ftp://${t.user}:${t.password}@127.0.0.1:${t.port}${t.remoteDir}/${name}`;
  const args = ["-sS", "--ssl-reqd", "--cacert", t.ca, "--max-time", "3600", ...(direction === "get" ? ["-o", out, url] : ["-T", src, url])];
  const t0 = performance.now();
  await run(...onCpu(1, "curl", args));
  const s = (performance.now() - t0) / 1000;
  return { seconds: s, wall: s };
}

async function timeFerry(t: Target, direction: "get" | "put", src: string, out: string, name: string): Promise<{ seconds: number; wall: number }> {
  const remote = t.remoteDir ? `${t.remoteDir}/${name}` : name;
  const t0 = performance.now();
  const { stdout } = await run(...onCpu(1, process.execPath, ["--import", "tsx", SELF, "--child", direction, String(t.port), t.user, t.password, t.ca, remote,
    direction === "get" ? out : src]), { cwd: REPO, maxBuffer: 1 << 20 });
  const wall = (performance.now() - t0) / 1000;
  return { seconds: (JSON.parse(stdout) as { seconds: number }).seconds, wall };
}

// ---------------------------------------------------------------- main
async function main(): Promise<void> {
  const memoryNote = holdPageReporting();
  const sizeMb = Number(process.env.SIZE_MB ?? 1024);
  const runs = Number(process.env.RUNS ?? 1);
  const servers = (process.env.SERVERS ?? "vsftpd ferry").split(/\s+/).filter(Boolean);
  const clients = (process.env.CLIENTS ?? "ferry curl").split(/\s+/).filter(Boolean);
  const bytes = sizeMb * MIB;
  const tmp = await tempDir("ferry-bench-ftps-");
  const rows: Row[] = [];
  const stops: Array<() => Promise<void>> = [];
  try {
    const src = join(tmp.path, "src.bin");
    makeFile(src, bytes);
    const targets: Target[] = [];
    if (servers.includes("vsftpd")) {
      const v = await startVsftpd(VSFTPD_CANDIDATES.find(() => true) ?? "vsftpd", "explicit");
      stops.push(() => v.stop());
      // Every session process vsftpd forks inherits the listener's CPU.
      if (PIN) await run("taskset", ["-a", "-p", "-c", "0", String(v.pid)]);
      const st = await stat(v.home);
      targets.push({ name: "vsftpd", port: v.port, user: v.user, password: v.password, ca: v.cert!.certFile, dir: v.home, remoteDir: "", uid: st.uid, gid: st.gid });
    }
    if (servers.includes("ferry")) {
      const certDir = await tempDir("ferry-bench-cert-");
      stops.push(() => certDir.remove());
      const cert = await generateSelfSignedCert(certDir.path);
      const root = await tempDir("ferry-bench-root-");
      stops.push(() => root.remove());
      const s = await startFerryServe(root.path, cert.certPath, cert.keyPath);
      stops.push(async () => {
        s.child.kill("SIGTERM");
        await new Promise((r) => s.child.once("exit", r));
      });
      targets.push({ name: "ferry", port: s.port, user: "bench", password: "bench", ca: cert.certPath, dir: root.path, remoteDir: "" });
    }
    for (const t of targets) {
      await copyFile(src, join(t.dir, "down.bin"));
      if (t.uid !== undefined) await chown(join(t.dir, "down.bin"), t.uid, t.gid!);
      // Run -1 is an untimed warm-up: the first transfer of a fresh process pair was often the
      // slowest by far (page cache, TCP autotuning), whichever client went first.
      for (let r = -1; r < runs; r++) {
        for (const direction of ["get", "put"] as const) {
          for (const client of r % 2 ? [...clients].reverse() : clients) {
            const out = join(tmp.path, `out-${client}.bin`);
            const name = direction === "get" ? "down.bin" : `up-${client}.bin`;
            const timed = client === "curl" ? await timeCurl(t, direction, src, out, name) : await timeFerry(t, direction, src, out, name);
            const ok = await same(src, direction === "get" ? out : join(t.dir, name));
            await rm(direction === "get" ? out : join(t.dir, name), { force: true });
            const row: Row = { server: t.name, client, direction, mbps: bytes / 1e6 / timed.seconds, wall: timed.wall, ok };
            if (r >= 0 || !ok) rows.push(row);
            process.stderr.write(`${t.name} ${direction} ${client}: ${row.mbps.toFixed(0)} MB/s${r < 0 ? " (warm-up)" : ""}${ok ? "" : " BYTES DIFFER"}\n`);
          }
        }
      }
    }
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    await tmp.remove();
  }
  printTable(rows, sizeMb, runs);
  if (memoryNote) console.log(`\n${memoryNote}`);
  if (process.env.OUT) await writeFile(process.env.OUT, JSON.stringify({ sizeMb, runs, rows }, null, 2));
  if (rows.some((r) => !r.ok)) process.exitCode = 1;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s[(s.length - 1) >> 1]! + s[s.length >> 1]!) / 2 : NaN;
}

function printTable(rows: Row[], sizeMb: number, runs: number): void {
  console.log(`\nFTPS (AUTH TLS, PROT P, session reuse), ${sizeMb} MiB, median of ${runs} run(s), MB/s (10^6 bytes/s)${PIN ? ", server on CPU 0, clients on CPU 1" : ""}\n`);
  console.log("| server | direction | ferry MB/s | curl MB/s | ferry / curl |");
  console.log("| --- | --- | ---: | ---: | ---: |");
  const keys = [...new Set(rows.map((r) => `${r.server} ${r.direction}`))];
  for (const key of keys) {
    const [server, direction] = key.split(" ") as [string, string];
    const m = (client: string) => median(rows.filter((r) => r.server === server && r.direction === direction && r.client === client).map((r) => r.mbps));
    const f = m("ferry");
    const c = m("curl");
    console.log(`| ${server} | ${direction} | ${f.toFixed(0)} | ${c.toFixed(0)} | ${(f / c).toFixed(2)} |`);
  }
}

if (process.argv[2] === "--child") await child(process.argv.slice(3));
else await main();
