// The Postgres driver for the shared queue suite: one throwaway cluster per test file (started
// on first use, removed after the file's last test), a fresh database per queue.
import { after, type TestContext } from "node:test";
import { openPostgresQueue, type OpenPostgresQueueOptions } from "../../src/queue/postgres/index.js";
import type { Queue } from "../../src/queue/Queue.js";
import { startPostgres, type PgCluster } from "../helpers/postgres.js";

/** Options of a test queue: openPostgresQueue's, without the URL (each call gets its own database). */
export type TestPostgresQueueOptions = Omit<OpenPostgresQueueOptions, "url">;

let cluster: Promise<PgCluster | undefined> | undefined;
let databases = 0;

// Registered when the test file imports this module, so it is a root-level hook: it runs once
// after the file's last test (an after() inside a test would run after that test only).
after(async () => {
  await (await cluster?.catch(() => undefined))?.close();
});

/**
 * The file's cluster, started on the first call. Outside CI without Postgres, the test is
 * skipped (startPostgres calls t.skip) and this throws so the test body goes no further.
 */
export async function testPostgresCluster(t: TestContext): Promise<PgCluster> {
  if (!cluster) {
    cluster = startPostgres(t);
  }
  const started = await cluster;
  if (!started) {
    t.skip("Postgres not installed");
    throw new Error("Postgres not installed (apt-get install postgresql); test skipped");
  }
  return started;
}

/** A fresh database on the file's cluster; returns its URL. */
export async function freshPostgresDatabase(t: TestContext): Promise<string> {
  const c = await testPostgresCluster(t);
  return c.createDatabase(`q${process.pid}_${++databases}`);
}

/** A Postgres queue on a fresh database of the file's cluster, closed when the test ends. */
export async function openTestPostgresQueue(t: TestContext, options: TestPostgresQueueOptions = {}): Promise<Queue> {
  const queue = await openPostgresQueue({ ...options, url: await freshPostgresDatabase(t) });
  t.after(() => queue.close());
  return queue;
}
