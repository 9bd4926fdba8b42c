// Benchmark (issue 13 part 3): a no-change `mirror --parallel 8` download of 1,000 files of
// 4 KiB in 20 folders through a loopback relay that delays every chunk by DELAY_MS each way
// (40 ms round trip by default; no netem on these machines). The mirror runs in this process
// (runMirror with a fresh pool each run, so logins count, node start-up does not); the relay
// (bench/lib/delayRelay.ts) forwards control and data connections and rewrites EPSV/PASV replies. Server: vsftpd (root)
// or, with SERVER=ferry, ferry's own server in this process. Prints each run and the median,
// with how many listings ran at once at most and the data connections opened (counted in the
// relay; listings over the control connection, STAT, open none).
//
//   node --import tsx bench/scanNoChange.ts                 # DELAY_MS=20 RUNS=5 SERVER=vsftpd
//   SERVER=ferry RUNS=3 node --import tsx bench/scanNoChange.ts
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ClientPool, FtpClient, isRetriable } from "../src/client/index.js";
import { runMirror } from "../src/sync/mirror.js";
import { SyncState } from "../src/sync/state.js";
import { startVsftpd, VSFTPD_CANDIDATES } from "../test/helpers/vsftpd.js";
import { startFerryServer } from "../test/helpers/ferryServer.js";
import { tempDir, pseudoRandomBytes } from "../test/helpers/tmp.js";
import { startDelayRelay } from "./lib/delayRelay.js";

const DELAY_MS = Number(process.env.DELAY_MS ?? 20);
const RUNS = Number(process.env.RUNS ?? 5);
const FILES = Number(process.env.FILES ?? 1000);
const DIRS = Number(process.env.DIRS ?? 20);
const PARALLEL = Number(process.env.PARALLEL ?? 8);

function pool(port: number, user: string, password: string): ClientPool {
  return new ClientPool({ max: PARALLEL, connect: () => FtpClient.connect({ host: "127.0.0.1", port, user, password }) });
}

const tmp = await tempDir("ferry-bench-scan-");
const server = process.env.SERVER === "ferry"
  ? await (async () => { const s = await startFerryServer(); return { port: s.port, user: "user", password: "pass", home: s.root, stop: () => s.close() }; })()
  : await startVsftpd(VSFTPD_CANDIDATES[0]!);
try {
  for (let i = 0; i < FILES; i++) {
    const dir = join(server.home, "tree", `d${String(i % DIRS).padStart(2, "0")}`);
    if (i < DIRS) await mkdir(dir, { recursive: true });
    await writeFile(join(dir, `f${i}.bin`), pseudoRandomBytes(4096, i + 1));
  }
  const local = join(tmp.path, "copy");
  // The sync state, as the CLI keeps it: LIST dates are not precise, the recorded stamps decide.
  const state = await SyncState.load(join(tmp.path, "state.json"), "remote:tree", local);
  const direct = pool(server.port, server.user, server.password);
  const first = await runMirror({ direction: "download", localRoot: local, remoteRoot: "tree", pool: direct, isRetriable, parallel: PARALLEL, state });
  await direct.drain();
  if (first.result?.failed.length || first.plan.ops.length < FILES) throw new Error(`the first download failed: ${JSON.stringify(first.result?.failed.slice(0, 3))}`);
  const relay = await startDelayRelay(server.port, { delayMs: DELAY_MS });
  const times: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    relay.reset();
    const p = pool(relay.port, server.user, server.password);
    const t0 = performance.now();
    const out = await runMirror({ direction: "download", localRoot: local, remoteRoot: "tree", pool: p, isRetriable, parallel: PARALLEL, state });
    const ms = performance.now() - t0;
    await p.drain();
    if (out.plan.ops.length !== 0) throw new Error(`not a no-change run: ${out.plan.ops.length} ops`);
    times.push(ms);
    console.log(`run ${r + 1}: ${(ms / 1000).toFixed(3)} s, ${relay.stats.commands} commands, ${relay.stats.dataConnections} data connections, at most ${relay.stats.maxListings} listings at once at the server`);
  }
  await relay.close();
  const sorted = [...times].sort((a, b) => a - b);
  console.log(`no-change download, ${FILES} files in ${DIRS} folders, --parallel ${PARALLEL}, ${2 * DELAY_MS} ms round trip, ${process.env.SERVER ?? "vsftpd"}: median ${(sorted[Math.floor(sorted.length / 2)]! / 1000).toFixed(3)} s (min ${(sorted[0]! / 1000).toFixed(3)}, max ${(sorted.at(-1)! / 1000).toFixed(3)})`);
} finally {
  await server.stop();
  await tmp.remove();
}
