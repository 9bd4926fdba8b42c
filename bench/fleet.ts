// Benchmark (issue 16, "Measure"): the 5,000-file upload mirror run by 1, 2 and 3 `ferry
// daemon` nodes on one queue, through an emulated distant link, against a server that allows
// CAP control connections in all; each node has `connections: CONNECTIONS`.
//
//   nodes ─→ WAN relay (bench/lib/delayRelay.ts, RTT_MS round trip) ─→ session counter
//            (test/fleet/fleetHarnessSessions.ts: refuses beyond CAP with 421, counts the
//            sessions open at once) ─→ ferry's server (in this process)
//
// The nodes are the daemons of test/fleet/fleetHarness.ts, run from source (tsx), each with
// its own config and folder, one shared source folder of FILES files of 1-4 KiB. Per node
// count, two runs, each started by `ferry jobs run` once every node is ready (the schedule
// never fires on its own):
//   1. the whole mirror: wall time (the run's first job queued → its last job finished, from
//      the jobs table), fleet-wide peak sessions and refusals;
//   2. (2 nodes or more) the same tree to a second folder, the last node SIGKILLed once
//      KILL_AT of the files are published: the time the survivors take from the kill to the
//      end of the run (the dead node's leases come back after LEASE).
// After each run the server's copy is checked file by file (size and SHA-256).
//
//   node --import tsx bench/fleet.ts                       # NODES=1,2,3 FILES=5000 RTT_MS=40
//   NODES=1 FILES=1000 node --import tsx bench/fleet.ts    # one node on SQLite (runs on any build)
//   DB=postgres NODES=1,2,3 node --import tsx bench/fleet.ts   # the one-node row on Postgres too
//
// Environment: NODES (list, default 1,2,3), FILES (5000), RTT_MS (40), CAP (8),
// CONNECTIONS (8), LEASE (leaseTimeout of each node, default "30s": the shipped default),
// KILL_AT (0.33), DB (sqlite|postgres; default sqlite for one node, postgres for more).
// Several nodes need the Postgres fleet (issue 16): without it their rows say so.
import type { TestContext } from "node:test";
import { startPostgres, type PgCluster } from "../test/helpers/postgres.js";
import { Fleet, fleetFeaturesPresent, makeSmallTree, MIRROR, TARGET, type JobRow } from "../test/fleet/fleetHarness.js";
import { startDelayRelay, type DelayRelay } from "./lib/delayRelay.js";

const NODES = (process.env.NODES ?? "1,2,3").split(",").map((n) => Number(n.trim())).filter((n) => n >= 1);
const FILES = Number(process.env.FILES ?? 5000);
const RTT_MS = Number(process.env.RTT_MS ?? 40);
const CAP = Number(process.env.CAP ?? 8);
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 8);
const LEASE = process.env.LEASE ?? "30s";
const KILL_AT = Number(process.env.KILL_AT ?? 0.33);
const DB = process.env.DB;
/** The second mirror, for the run with a kill. */
const KILL_MIRROR = "mirror-kill";
const KILL_TARGET = "/mirror-kill";

/** One row of the table. */
interface Row {
  nodes: number;
  db: string;
  note?: string;
  wallS?: number;
  peak?: number;
  refused?: number;
  killRunS?: number;
  survivorsS?: number;
  killPeak?: number;
  killRefused?: number;
}

let cluster: PgCluster | undefined;

/** A fresh Postgres database on the bench's cluster (started on first use). */
async function postgresDatabase(name: string): Promise<string> {
  // startPostgres takes a test context only to skip when Postgres is missing; here that is an error.
  const context = { skip: (msg: string) => { throw new Error(msg); } } as unknown as TestContext;
  cluster ??= await startPostgres(context);
  if (!cluster) throw new Error("Postgres is not installed (apt-get install postgresql)");
  return cluster.createDatabase(name);
}

/** The jobs of `mirror` queued since `since`: first queued → last finished, ms. */
function span(rows: readonly JobRow[], since: number): { start: number; end: number } {
  const mine = rows.filter((j) => j.createdAt >= since);
  if (mine.length === 0) throw new Error("no job of the run found in the jobs table");
  return { start: Math.min(...mine.map((j) => j.createdAt)), end: Math.max(...mine.map((j) => j.finishedAt ?? Number.NaN)) };
}

async function measure(nodes: number): Promise<Row> {
  const usePostgres = DB === "postgres" || (DB !== "sqlite" && nodes > 1);
  const row: Row = { nodes, db: usePostgres ? "postgres" : "sqlite" };
  if (nodes > 1 && !usePostgres) return { ...row, note: "several nodes need DB=postgres" };
  if (usePostgres && !fleetFeaturesPresent()) return { ...row, note: "needs the Postgres fleet merge (issue 16)" };
  const database = usePostgres ? await postgresDatabase(`bench_${nodes}_${Date.now()}`) : undefined;
  let relay: DelayRelay | undefined;
  const fleet = await Fleet.create({
    nodes, ...(database ? { database } : {}), connections: CONNECTIONS, serverCap: CAP, leaseTimeout: LEASE,
    schedule: "0 0 0 1 1 *", catchUp: false, delete: false, moreMirrors: { [KILL_MIRROR]: KILL_TARGET },
    via: async (port) => (relay = await startDelayRelay(port, { delayMs: RTT_MS / 2 })).port,
  }, (src) => makeSmallTree(src, FILES));
  try {
    await fleet.startAll();
    const timeoutMs = Math.max(300_000, FILES * 200);

    // 1. The whole mirror.
    fleet.counter.resetPeak();
    let since = Date.now();
    await fleet.runNow(MIRROR);
    await fleet.waitForTree(FILES, { timeoutMs, target: TARGET });
    let s = span(await fleet.waitForRuns({ timeoutMs, mirror: MIRROR }), since);
    Object.assign(row, { wallS: (s.end - s.start) / 1000, peak: fleet.counter.peak, refused: fleet.counter.refusals });

    // 2. Again to a second folder, the last node killed part way.
    if (nodes > 1) {
      fleet.counter.resetPeak();
      since = Date.now();
      await fleet.runNow(KILL_MIRROR);
      const end = Date.now() + timeoutMs;
      while (fleet.publishedCount(KILL_TARGET) < FILES * KILL_AT) {
        if (Date.now() > end) throw new Error(`${KILL_MIRROR}: ${KILL_AT} of the files not published in time`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const kill = await fleet.kill(nodes - 1);
      await fleet.waitForTree(FILES, { timeoutMs, target: KILL_TARGET });
      s = span(await fleet.waitForRuns({ timeoutMs, mirror: KILL_MIRROR }), since);
      Object.assign(row, { killRunS: (s.end - s.start) / 1000, survivorsS: (s.end - kill.at) / 1000, killPeak: fleet.counter.peak, killRefused: fleet.counter.refusals });
    }
    return row;
  } finally {
    await fleet.close();
    await relay?.close();
  }
}

function formatRow(r: Row): string {
  const f = (v: number | undefined, digits = 1) => (v === undefined ? "—" : v.toFixed(digits));
  const rate = r.wallS ? f(FILES / r.wallS, 0) : "—";
  if (r.note) return `| ${r.nodes} | ${r.db} | ${r.note} | | | | | |`;
  return `| ${r.nodes} | ${r.db} | ${f(r.wallS)} | ${rate} | ${r.peak ?? "—"} / ${r.refused ?? "—"} | ${f(r.killRunS)} | ${f(r.survivorsS)} | ${r.killPeak ?? "—"} / ${r.killRefused ?? "—"} |`;
}

async function main(): Promise<void> {
  console.log(`# fleet upload mirror: ${FILES} files of 1-4 KiB, RTT ${RTT_MS} ms, server cap ${CAP} sessions in all, connections: ${CONNECTIONS} per node, leaseTimeout ${LEASE}, kill at ${Math.round(KILL_AT * 100)}%`);
  console.log("| nodes | queue | wall (s) | files/s | peak sessions / refused | kill run (s) | survivors after the kill (s) | kill run: peak / refused |");
  console.log("|---|---|---|---|---|---|---|---|");
  try {
    for (const n of NODES) console.log(formatRow(await measure(n)));
  } finally {
    await cluster?.close();
  }
}

await main();
