import { readFileSync } from "node:fs";
import { after, type TestContext } from "node:test";
import pg from "pg";
import { startPostgres, type PgCluster } from "../helpers/postgres.js";

const FLEET_SQL = readFileSync(new URL("../../migrations/postgres/0002_fleet.sql", import.meta.url), "utf8");

/** One cluster per test file (starting one takes seconds); each test gets its own database. */
let shared: Promise<PgCluster | undefined> | undefined;
let databases = 0;
after(async () => (await shared)?.close());

/** A fresh database, or undefined when the test was skipped (no Postgres outside CI). */
export interface FleetDb {
  readonly cluster: PgCluster;
  readonly url: string;
  readonly name: string;
  /** Connected to the test's database. */
  readonly admin: pg.Client;
  /** Runs one statement from the `postgres` database (ALTER DATABASE, pg_terminate_backend). */
  outside(sql: string, params?: unknown[]): Promise<pg.QueryResult>;
}

/**
 * A fresh database on the file's throwaway cluster with the fleet migration applied, plus a
 * stand-in for the queue's `jobs` table (the columns the nodes registry reads, as in
 * migrations/0001_init.sql; the Postgres queue driver's migration creates the real one).
 */
export async function startFleetDb(t: TestContext): Promise<FleetDb | undefined> {
  shared ??= startPostgres(t);
  const cluster = await shared;
  if (!cluster) {
    t.skip("Postgres not installed");
    return undefined;
  }
  const name = `fleet${++databases}`;
  const url = await cluster.createDatabase(name);
  const admin = new pg.Client({ connectionString: url });
  admin.on("error", () => undefined); // a test may restart the cluster
  await admin.connect();
  t.after(() => admin.end().catch(() => undefined));
  await admin.query(`CREATE TABLE jobs (id BIGSERIAL PRIMARY KEY, state TEXT NOT NULL DEFAULT 'queued', lease_owner TEXT)`);
  await admin.query(FLEET_SQL);
  return {
    cluster, url, name, admin,
    async outside(sql, params) {
      const c = new pg.Client({ connectionString: cluster.url() });
      await c.connect();
      try {
        return await c.query(sql, params);
      } finally {
        await c.end();
      }
    },
  };
}

/** Polls `cond` every 20 ms, at most `tries` times; returns whether it came true. */
export async function until(cond: () => boolean | Promise<boolean>, tries = 500): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    if (await cond()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}
