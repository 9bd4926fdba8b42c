// A small fleet for the distributed mirror tests (issue 16 part 2): one ferry server, one
// SQLite queue file, and "nodes" that each open their own connection to it, with their own
// remote pools and WorkerRunner, the way daemons on several machines share a Postgres queue.
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { pino } from "pino";
import type { TestContext } from "node:test";
import { isRetryableJobError, RemoteRegistry, remoteEndpoint, type MirrorJob } from "../../src/daemon/index.js";
import { createMirrorRunHandlers, DatabaseMirrorStateStore, type MirrorRunDeps, type MirrorRunHandlers, type PartLimits } from "../../src/daemon/jobs/mirrorRun/index.js";
import { silentLogger } from "../../src/log/index.js";
import { JobStore, openDatabase, WorkerRunner, type EnqueueInput, type EnqueueOptions, type Job, type JobKind } from "../../src/queue/index.js";
import type { Queue } from "../../src/queue/Queue.js";
import { SqliteQueue } from "../../src/queue/sqlite/SqliteQueue.js";
import { startFerryServer, type RunningFerryServer } from "../helpers/ferryServer.js";
import { pseudoRandomBytes, tempDir } from "../helpers/tmp.js";
import { waitUntil } from "./harness.js";

/**
 * The async queue calls the handlers use, over today's synchronous JobStore (the SQLite
 * driver of the Queue interface is written elsewhere; this is all the handlers need of it).
 */
export function asyncQueue(store: JobStore): Pick<Queue, "enqueue" | "listJobs" | "getJob"> {
  return {
    enqueue: async <K extends JobKind>(input: EnqueueInput<K>, options?: EnqueueOptions) => store.enqueue(input, options),
    listJobs: async (filter) => store.listJobs(filter),
    getJob: async (id) => store.getJob(id),
  };
}

/** One daemon of the fleet. */
export interface Node {
  readonly name: string;
  readonly store: JobStore;
  readonly remotes: RemoteRegistry;
  readonly handlers: MirrorRunHandlers;
  /** Starts this node's workers on every kind of a distributed run; `listen` subscribes before the first lease recovery. */
  start(options?: { concurrency?: number; listen?: (runner: WorkerRunner) => void }): WorkerRunner;
}

/** A completed STOR or RETR as the server logged it. */
export interface ServerTransfer {
  readonly verb: string;
  readonly path: string;
}

/** Options of startFleet. */
export interface FleetOptions {
  readonly nodes?: number;
  readonly job: Pick<MirrorJob, "direction"> & Partial<MirrorJob>;
  readonly partLimits?: PartLimits;
  /** Attempts before a part goes dead; default 5. */
  readonly maxAttempts?: number;
  /** Lease of the nodes' runners, in ms; default 3000. */
  readonly leaseMs?: number;
  /** Wraps each node's queue as its handlers see it (to cut a plan short). */
  readonly wrapQueue?: (queue: MirrorRunDeps["queue"]) => MirrorRunDeps["queue"];
}

/** The fleet: server, queue, nodes, and the mirror's folders. */
export interface Fleet {
  readonly server: RunningFerryServer;
  readonly job: MirrorJob;
  readonly nodes: readonly Node[];
  /** The local folder of the mirror. */
  readonly local: string;
  /** The server's folder of the mirror. */
  readonly remote: string;
  /** Completed STOR/RETR of the server, in order. */
  readonly transfers: ServerTransfer[];
  /** Every job row of the queue. */
  rows(): Job[];
  /** Waits until the run's finish (the newest) is done or dead, and returns it. */
  finished(timeoutMs?: number): Promise<Job>;
}

/** Starts the server, opens the queue for each node; everything is closed when the test ends. */
export async function startFleet(t: TestContext, o: FleetOptions): Promise<Fleet> {
  const dir = await tempDir("ferry-mirror-run-");
  t.after(() => dir.remove());
  const transfers: ServerTransfer[] = [];
  const serverLog = pino({ level: "info" }, {
    write(line: string) {
      const e = JSON.parse(line) as { event?: string; verb?: string; path?: string; status?: string };
      if (e.event === "transfer" && e.status === "completed") transfers.push({ verb: e.verb!, path: e.path! });
    },
  });
  const srvRoot = join(dir.path, "srv");
  await mkdir(srvRoot);
  const server = await startFerryServer({ root: srvRoot, logger: serverLog });
  t.after(() => server.close());
  const local = join(dir.path, "local");
  const job: MirrorJob = {
    kind: "mirror", name: "m", remote: "srv", remoteRoot: "/tree", localRoot: local, schedule: "0 0 1 1 *",
    catchUp: false, delete: false, checksum: false, include: [], exclude: [], parallel: 2, distribute: "on", ...o.job,
  };
  const jobs = new Map([[job.name, job]]);
  const dbFile = join(dir.path, "queue.db");
  const leaseMs = o.leaseMs ?? 3000;
  const nodes: Node[] = [];
  for (let i = 1; i <= (o.nodes ?? 2); i++) {
    const name = `node${i}`;
    const db = openDatabase(dbFile);
    const storeOptions = { leaseMs, maxAttempts: o.maxAttempts ?? 5, backoff: { baseMs: 10, capMs: 50, jitter: 0 } };
    // The tests drive the queue by hand through the sync store; the workers use the async driver over the same connection.
    const store = new JobStore(db, storeOptions);
    const queue = new SqliteQueue(db, storeOptions);
    const remotes = new RemoteRegistry([remoteEndpoint("srv", { url: server.url(), connections: 4 })], { backoff: { baseMs: 100, capMs: 1000, jitter: 0 }, logger: silentLogger() });
    const deps: MirrorRunDeps = {
      jobs, remotes, queue: o.wrapQueue ? o.wrapQueue(asyncQueue(store)) : asyncQueue(store), state: new DatabaseMirrorStateStore(queue.mirrorStates), recordsDir: join(dir.path, "state"),
      logger: silentLogger(), finishPollMs: 20, ...(o.partLimits ? { partLimits: o.partLimits } : {}),
    };
    const handlers = createMirrorRunHandlers(deps);
    const runners: WorkerRunner[] = [];
    nodes.push({
      name, store, remotes, handlers,
      start: (so = {}) => {
        const runner = new WorkerRunner(queue, {
          handlers: { mirror: handlers.plan, "mirror-part": handlers["mirror-part"], "mirror-finish": handlers["mirror-finish"] },
          concurrency: so.concurrency ?? 2, workerIdPrefix: name, pollIntervalMs: 20, leaseMs, sweepIntervalMs: 100,
          isRetryable: isRetryableJobError, logger: silentLogger(),
        });
        so.listen?.(runner);
        runner.start();
        runners.push(runner);
        return runner;
      },
    });
    t.after(async () => {
      for (const r of runners) await r.stop(1000);
      await remotes.drain();
      db.close();
    });
  }
  const rows = (): Job[] => nodes[0]!.store.listJobs({ limit: 100_000 });
  return {
    server, job, nodes, local, remote: join(srvRoot, "tree"), transfers, rows,
    finished: async (timeoutMs = 20_000) => {
      let last: Job | undefined;
      await waitUntil(() => {
        last = rows().find((r) => r.kind === "mirror-finish");
        return last !== undefined && (last.state === "done" || last.state === "dead");
      }, { timeoutMs, what: "the run's finish", onTimeout: () => JSON.stringify(rows().map((r) => [r.id, r.kind, r.state, r.lastError])) });
      return last!;
    },
  };
}

/** A tree of `files` files in folders of 20, sizes 0 to ~40 KiB and a few of 300 KiB, as path → bytes. */
export function bigTree(files: number, seed = 1): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (let i = 0; i < files; i++) {
    const size = i % 50 === 7 ? 300 * 1024 : (i * 7919) % (40 * 1024);
    out.set(`d${String(Math.floor(i / 20)).padStart(2, "0")}/f${String(i).padStart(3, "0")}.bin`, pseudoRandomBytes(size, seed + i));
  }
  return out;
}
