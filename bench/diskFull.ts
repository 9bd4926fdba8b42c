/**
 * Benchmark: the daemon over a full-disk episode (issue 12, D4). Needs root (a tmpfs mount).
 *   node --import tsx bench/diskFull.ts [--hold S] [--space-check DURATION] [--local-delay DURATION] [--local-max-delay DURATION]
 * A mirror job (remote → local) downloads a 1.5 MB file into a 4 MiB tmpfs that is full. The
 * daemon runs with the default retry settings unless told otherwise (local backoff 1 min
 * doubling to 15 min, a free-space check every 2 s). The disk stays full for --hold seconds
 * (default 30) after the job was first deferred; then the filler is deleted and the time until
 * the file is published is measured. Prints one JSON line: the deferrals seen while full, the
 * daemon's exit state, and recoveryMs (freeing → file complete).
 */
import { spawn } from "node:child_process";
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, open, readFile, rm, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Authenticator, FtpServer } from "../src/server/index.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const { values } = parseArgs({ options: {
  hold: { type: "string", default: "30" },
  "space-check": { type: "string" },
  "local-delay": { type: "string" },
  "local-max-delay": { type: "string" },
} });
if (process.getuid?.() !== 0) {
  console.error("bench/diskFull.ts needs root (it mounts a tmpfs)");
  process.exit(2);
}

const work = await mkdtemp(join(tmpdir(), "ferry-bench-diskfull-"));
const vol = join(work, "vol");
await mkdir(join(work, "srv", "data"), { recursive: true });
await mkdir(vol);
execFileSync("mount", ["-t", "tmpfs", "-o", "size=4m", "tmpfs", vol]);
const body = Buffer.alloc(1_500_000, 7);
await writeFile(join(work, "srv", "data", "big.bin"), body);

const authenticator = await Authenticator.create({ root: join(work, "srv"), users: [{ name: "u", password: "p", readOnly: false }], anonymous: false });
const server = new FtpServer({ authenticator, host: "127.0.0.1", port: 0 });
const port = await server.listen();

/** Fill the filesystem of `path`'s folder with zeros until ENOSPC. */
async function fill(path: string): Promise<void> {
  const fh = await open(path, "w");
  try {
    for (const size of [64 * 1024, 4096]) {
      for (;;) {
        try {
          if ((await fh.write(Buffer.alloc(size))).bytesWritten < size) break;
        } catch {
          break;
        }
      }
    }
  } finally {
    await fh.close();
  }
}

await mkdir(join(vol, "mirror"));
await fill(join(vol, "filler"));
// A bare number is milliseconds (the config takes "0" only as a number).
const duration = (v: string): string | number => (/^\d+$/.test(v) ? Number(v) : v);
const retry: Record<string, string | number> = {};
if (values["space-check"] !== undefined) retry.spaceCheck = duration(values["space-check"]);
if (values["local-delay"] !== undefined) retry.localDelay = duration(values["local-delay"]);
if (values["local-max-delay"] !== undefined) retry.localMaxDelay = duration(values["local-max-delay"]);
await writeFile(join(work, "ferry.json"), JSON.stringify({
  database: join(work, "var", "ferry.db"), logLevel: "info",
  retry,
  remotes: { srv: { url: `ftp://u:p@127.0.0.1:${port}/` } },
  jobs: [{ name: "pull", kind: "mirror", source: "srv:/data", target: "./vol/mirror", schedule: "0 0 1 1 *" }],
}));

const lines: Record<string, unknown>[] = [];
const daemon = spawn(process.execPath, ["--import", "tsx", join(ROOT, "src", "cli", "main.ts"), "daemon", "--config", join(work, "ferry.json")],
  { cwd: ROOT, stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, FERRY_LOG_LEVEL: "info" } });
let partial = "";
daemon.stderr.setEncoding("utf8").on("data", (d: string) => {
  const parts = (partial + d).split("\n");
  partial = parts.pop() ?? "";
  for (const l of parts) {
    try {
      lines.push(JSON.parse(l) as Record<string, unknown>);
    } catch {
      lines.push({ msg: l });
    }
  }
});

async function until(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    if (daemon.exitCode !== null) throw new Error(`the daemon exited (${daemon.exitCode}) while waiting for ${what}`);
    await sleep(20);
  }
  throw new Error(`timed out waiting for ${what}`);
}

let result: Record<string, unknown>;
try {
  await until(() => lines.some((l) => l.event === "local.trouble"), 60_000, "the first deferral");
  const firstDeferral = Date.now();
  await sleep(Number(values.hold) * 1000);
  const deferrals = lines.filter((l) => l.event === "local.trouble").length;
  const freed = Date.now();
  await unlink(join(vol, "filler"));
  await until(async () => (await readFile(join(vol, "mirror", "big.bin")).catch(() => Buffer.alloc(0))).equals(body), 3_600_000, "the file after freeing");
  result = {
    holdS: Number(values.hold), fullForMs: freed - firstDeferral, deferralsWhileFull: deferrals,
    retry, daemonUp: daemon.exitCode === null, recoveryMs: Date.now() - freed,
    wokenBySpaceCheck: lines.some((l) => l.event === "local.space"),
  };
} finally {
  if (daemon.exitCode === null && daemon.signalCode === null) {
    const exited = new Promise((r) => daemon.once("exit", r));
    daemon.kill("SIGTERM");
    await exited;
  } else console.error(lines.slice(-5).map((l) => JSON.stringify(l)).join("\n"));
  await server.close(0);
  execFileSync("umount", ["-l", vol]);
  await rm(work, { recursive: true, force: true });
}
console.log(JSON.stringify(result));
