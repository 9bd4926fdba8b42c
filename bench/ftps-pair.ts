// Diagnostic beside bench/ftps.ts: FTPS downloads only, from one vsftpd (explicit TLS,
// session reuse required), ferry's client and curl taking turns RUNS times, each reported
// with its MB/s, its own CPU (user, sys), peak RSS and page faults from /usr/bin/time. Root only.
//
//   sudo TMPDIR=/dev/shm node --import tsx bench/ftps-pair.ts        # 1 GiB, 4 rounds, pinned
//   SIZE_MB=512 RUNS=6 PIN=0 OUT=/dev/null sudo -E node --import tsx bench/ftps-pair.ts
//
// ferry runs as `bench/ftps.ts --child get` (the same child process bench/ftps.ts times) and
// reports its time from connect to quit; curl is timed as a process. With PIN (default on
// two or more CPUs) vsftpd runs on CPU 0 and the clients on CPU 1. OUT=/dev/null takes the
// output file out of the measure. This script and bench/ftps.ts disagree on ferry's download
// speed (bench/README.md, FTPS): keeping both lets the difference be found.
import { execFile } from "node:child_process";
import { chown, rm, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { startVsftpd, VSFTPD_CANDIDATES } from "../test/helpers/vsftpd.js";
import { tempDir } from "../test/helpers/tmp.js";
import { holdPageReporting } from "./lib/pageReporting.js";
import { onCpu, PIN } from "./lib/pin.js";

const run = promisify(execFile);
const REPO = join(dirname(fileURLToPath(import.meta.url)), "..");
const SIZE_MB = Number(process.env.SIZE_MB ?? 1024);
const RUNS = Number(process.env.RUNS ?? 4);

/** Run `command args` on CPU 1 (when pinning) under /usr/bin/time; returns stdout and "user sys maxrss faults". */
async function timedOnCpu1(command: string, args: string[]): Promise<{ stdout: string; usage: string; seconds: number }> {
  const t0 = performance.now();
  const { stdout, stderr } = await run(...onCpu(1, "/usr/bin/time", ["-f", "%U %S %M %F %R", command, ...args]), { cwd: REPO, maxBuffer: 1 << 20 });
  return { stdout, usage: stderr.trim().split("\n").pop() ?? "", seconds: (performance.now() - t0) / 1000 };
}

async function main(): Promise<void> {
  const memoryNote = holdPageReporting();
  if (memoryNote) console.log(memoryNote);
  const tmp = await tempDir("ferry-bench-ftps-pair-");
  const server = await startVsftpd(VSFTPD_CANDIDATES[0]!, "explicit");
  try {
    if (PIN) await run("taskset", ["-a", "-p", "-c", "0", String(server.pid)]);
    const remote = join(server.home, "big.bin");
    await run("dd", ["if=/dev/urandom", `of=${remote}`, "bs=1M", `count=${SIZE_MB}`, "status=none"]);
    const st = await stat(server.home);
    await chown(remote, st.uid, st.gid);
    const bytes = SIZE_MB * 1024 * 1024;
    const out = process.env.OUT ?? join(tmp.path, "out.bin");
    const ca = server.cert!.certFile;
    console.log(`FTPS get of ${SIZE_MB} MiB from vsftpd, ${PIN ? "vsftpd on CPU 0, clients on CPU 1" : "unpinned"}; MB/s [client CPU user, sys s; peak RSS KiB; major, minor page faults]`);
    for (let r = 0; r < RUNS; r++) {
      if (out !== "/dev/null") await rm(out, { force: true });
      const ferry = await timedOnCpu1(process.execPath, ["--import", "tsx", join(REPO, "bench", "ftps.ts"), "--child", "get",
        String(server.port), server.user, server.password, ca, "big.bin", out]);
      const f = JSON.parse(ferry.stdout) as { seconds: number };
      if (out !== "/dev/null") await rm(out, { force: true });
      const curl = await timedOnCpu1("curl", ["-sS", "--ssl-reqd", "--cacert", ca, "-o", out,
        `ftp://${server.user}:${server.password}@127.0.0.1:${server.port}/big.bin`]);
      console.log(`round ${r + 1}: ferry ${(bytes / 1e6 / f.seconds).toFixed(0)} MB/s [${ferry.usage}]  curl ${(bytes / 1e6 / curl.seconds).toFixed(0)} MB/s [${curl.usage}]`);
    }
  } finally {
    await server.stop();
    await tmp.remove();
  }
}

await main();
