// The Postgres driver for the shared queue suite: one throwaway cluster per test file (started
// on first use, removed after the file's last test), and a fresh, empty place per queue: a new
// schema of one database, named in the URL (`?options=-c search_path=…`), because CREATE
// DATABASE costs about a second on a busy CI machine and a schema a few milliseconds. Each
// queue still sees only its own tables and migrates from nothing.
import { after, type TestContext } from "node:test";
import pg from "pg";
import { openPostgresQueue, type OpenPostgresQueueOptions } from "../../src/queue/postgres/index.js";
import type { Queue } from "../../src/queue/Queue.js";
import { startPostgres, type PgCluster } from "../helpers/postgres.js";

/** Options of a test queue: openPostgresQueue's, without the URL (each call gets its own database). */
export type TestPostgresQueueOptions = Omit<OpenPostgresQueueOptions, "url">;

let cluster: Promise<PgCluster | undefined> | undefined;
let database: Promise<string> | undefined;
let schemas = 0;

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

/** A fresh empty schema in the file's database; returns a URL whose connections use only it. */
export async function freshPostgresUrl(t: TestContext): Promise<string> {
  const c = await testPostgresCluster(t);
  database ??= c.createDatabase(`ferry_test_${process.pid}`);
  const url = await database;
  const schema = `q${++schemas}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    await admin.query(`CREATE SCHEMA ${schema}`);
  } finally {
    await admin.end();
  }
  return `${url}?options=${encodeURIComponent(`-c search_path=${schema}`)}`;
}

/** A Postgres queue on a fresh schema of the file's cluster, closed when the test ends. */
export async function openTestPostgresQueue(t: TestContext, options: TestPostgresQueueOptions = {}): Promise<Queue> {
  const queue = await openPostgresQueue({ ...options, url: await freshPostgresUrl(t) });
  t.after(() => queue.close());
  return queue;
}

/** Runs SQL on a test queue's database from outside the driver (as an older ferry or an operator would), e.g. to corrupt a payload. */
export async function queryTestPostgres(queue: Queue, text: string, values: readonly unknown[] = []): Promise<pg.QueryResult> {
  // A test URL carries no password, so `where` is the full URL (with the queue's search_path).
  const client = new pg.Client({ connectionString: queue.where });
  await client.connect();
  try {
    return await client.query(text, values as unknown[]);
  } finally {
    await client.end();
  }
}

/** The entry for the shared suite's `drivers` list (test/queue/drivers.ts, QueueTestDriver). */
export const postgresTestDriver = { name: "postgres" as const, open: openTestPostgresQueue };
