// Memory of `ferry get` against a server that lies about the size (FAULTS.md B9, issue 12
// #2): SIZE announces N bytes and the data never ends. Compared with an honest get of the
// same announced size from the same scripted server. Peak RSS is the child's VmHWM, polled
// from /proc; the child is killed above 2 GB so an unfixed client cannot take the machine.
//
//   node --import tsx bench/endlessData.ts              # N = 10 B and 2 MiB, 3 runs each
//   RUNS=5 SIZES=10,1048576,8388608 node --import tsx bench/endlessData.ts
import { rm } from "node:fs/promises";
import { ferryArgv, REPO_ROOT } from "../test/helpers/cli.js";
import { runMeasured, startLyingServer, type LyingMode } from "../test/helpers/lyingServer.js";
import { tempDir } from "../test/helpers/tmp.js";

const MB = 1024 * 1024;
const RUNS = Number(process.env.RUNS ?? 3);
const SIZES = (process.env.SIZES ?? `10,${2 * MB}`).split(",").map(Number);

async function once(size: number, mode: LyingMode): Promise<{ peakMb: number; code: number | null; ms: number; killed: boolean; message: string }> {
  const server = await startLyingServer(size, mode);
  const tmp = await tempDir("ferry-bench-endless-");
  try {
    const started = performance.now();
    const r = await runMeasured(ferryArgv("get", `ftp://u:p@127.0.0.1:${server.port}/f.bin`, `${tmp.path}/`), {
      cwd: REPO_ROOT, env: { HOME: tmp.path, FERRY_LOG_LEVEL: "error" }, killAboveBytes: 2048 * MB, timeoutMs: 60_000,
    });
    return {
      peakMb: Math.round(r.peakRss / MB), code: r.code, ms: Math.round(performance.now() - started), killed: r.killed,
      message: (r.stderr.trim().split("\n").pop() ?? "").slice(0, 120),
    };
  } finally {
    await server.close();
    await rm(tmp.path, { recursive: true, force: true });
  }
}

for (const size of SIZES) {
  for (const mode of ["exact", "endless"] as const) {
    const peaks: number[] = [];
    let last: Awaited<ReturnType<typeof once>> | undefined;
    for (let i = 0; i < RUNS; i++) {
      last = await once(size, mode);
      peaks.push(last.peakMb);
    }
    peaks.sort((a, b) => a - b);
    console.log(JSON.stringify({
      announced: size, mode, runs: RUNS, peakRssMbMedian: peaks[Math.floor(peaks.length / 2)], peakRssMbMax: peaks.at(-1),
      exit: last?.code, killed: last?.killed, ms: last?.ms, stderr: last?.message,
    }));
  }
}
