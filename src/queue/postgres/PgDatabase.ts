import pg from "pg";
import {
  DatabaseAuthError,
  DatabaseConfigError,
  DatabaseUnreachableError,
  isAuthFailure,
  isUnreachable,
  QueueClosedError,
  redactUrl,
  scrub,
} from "./errors.js";

/** One statement's runner: a pool (autocommit) or the client of an open transaction. */
export interface Sql {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: readonly unknown[]): Promise<pg.QueryResult<R>>;
}

/** Options for a PgDatabase. */
export interface PgDatabaseOptions {
  /** Most connections this process holds; default 10. */
  poolSize?: number;
  /** How long to wait for a connection before "database unreachable", in ms; default 10000. */
  connectTimeoutMs?: number;
}

// bigint (int8, OID 20) columns and count(*) arrive as numbers: every bigint here is a time in ms
// or an id, far below 2^53. Set per pool, not on pg's global types, so other pg users are untouched.
const INT8_OID = 20;
const types = {
  getTypeParser: ((oid: number, format?: "text" | "binary") =>
    oid === INT8_OID ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format ?? "text")) as pg.CustomTypesConfig["getTypeParser"],
};

/**
 * A pg.Pool for one queue database, with the two things every caller needs: transactions that
 * roll back (and drop a broken connection) on any error, and pg's errors translated into typed
 * ones that name the URL without its password. The pool reconnects by itself: after a Postgres
 * restart, calls fail with DatabaseUnreachableError until the server is back, then work again.
 */
export class PgDatabase implements Sql {
  // parameters
  /** The URL without its password. */
  readonly where: string;
  readonly #password: string | undefined;
  readonly #user: string;
  readonly #poolSize: number;
  // internal state
  readonly #pool: pg.Pool;
  #closed = false;

  constructor(url: string, options: PgDatabaseOptions = {}) {
    this.where = redactUrl(url);
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new DatabaseConfigError(`database ${this.where}: not a valid URL; write it as postgres://USER@HOST:PORT/DATABASE (password from the environment)`);
    }
    if (parsed.protocol !== "postgres:" && parsed.protocol !== "postgresql:") {
      throw new DatabaseConfigError(`database ${this.where}: a Postgres URL starts with postgres:// (got ${parsed.protocol}//)`);
    }
    // pg takes PGPASSWORD when the URL has none: scrub whichever one is in use.
    this.#password = (parsed.password ? decodeURIComponent(parsed.password) : parsed.searchParams.get("password")) || process.env.PGPASSWORD || undefined;
    this.#user = decodeURIComponent(parsed.username) || process.env.PGUSER || "(the OS user)";
    const poolSize = options.poolSize ?? 10;
    if (!Number.isSafeInteger(poolSize) || poolSize < 1) throw new RangeError(`poolSize must be a positive integer, got ${poolSize}`);
    this.#poolSize = poolSize;
    this.#pool = new pg.Pool({
      connectionString: url,
      max: poolSize,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
      keepAlive: true,
      application_name: "ferry",
      types,
    });
    // An idle connection the server closes (a restart, an admin's pg_terminate_backend) is
    // reported here; without a listener it would crash the daemon. The pool drops it and the
    // next call connects afresh, so there is nothing else to do.
    this.#pool.on("error", () => undefined);
  }

  /** Runs one statement in its own transaction (autocommit). */
  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: readonly unknown[]): Promise<pg.QueryResult<R>> {
    return this.statement("query", text, values);
  }

  /** query(), with the operation named in any error ("heartbeat job 7: database unreachable at …"). */
  async statement<R extends pg.QueryResultRow = pg.QueryResultRow>(operation: string, text: string, values?: readonly unknown[]): Promise<pg.QueryResult<R>> {
    return this.run(operation, (sql) => sql.query<R>(text, values));
  }

  /** Runs fn on one connection outside a transaction (the migration runner's session lock). */
  async withClient<T>(operation: string, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    if (this.#closed) throw new QueueClosedError(this.where, operation);
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (err) {
      throw this.translate(err, operation);
    }
    let broken: Error | undefined;
    try {
      return await fn(client);
    } catch (err) {
      if (isUnreachable(err)) broken = err as Error;
      throw this.translate(err, operation);
    } finally {
      client.release(broken ?? false);
    }
  }

  /** Runs fn inside BEGIN … COMMIT on one connection; any error rolls back and is rethrown translated. */
  async transaction<T>(operation: string, fn: (sql: Sql) => Promise<T>): Promise<T> {
    return this.withClient(operation, async (client) => {
      await client.query("BEGIN");
      try {
        const result = await fn(client);
        await client.query("COMMIT");
        return result;
      } catch (err) {
        // A dead connection cannot roll back; withClient discards it and the server aborts the transaction.
        if (!isUnreachable(err)) await client.query("ROLLBACK").catch(() => undefined);
        throw err;
      }
    });
  }

  /** Runs fn with autocommit statements on the pool. */
  async run<T>(operation: string, fn: (sql: Sql) => Promise<T>): Promise<T> {
    if (this.#closed) throw new QueueClosedError(this.where, operation);
    try {
      return await fn(this.#pool);
    } catch (err) {
      throw this.translate(err, operation);
    }
  }

  /** pg's error as a typed one: unreachable, login refused, unknown database; others keep their class with the password scrubbed. */
  translate(err: unknown, operation: string): Error {
    if (err instanceof DatabaseUnreachableError || err instanceof DatabaseAuthError || err instanceof QueueClosedError) return err;
    const detail = scrub(err, this.#password);
    if (this.#closed && /after calling end on the pool/.test(detail)) return new QueueClosedError(this.where, operation);
    if (isAuthFailure(err)) return new DatabaseAuthError(this.where, this.#user, detail, { cause: scrubbed(err, detail) });
    if (isUnreachable(err)) {
      // pg-pool reports "no free connection in time" with the same text as "server did not answer".
      const busy = /timeout exceeded when trying to connect/.test(detail) && this.#pool.totalCount >= this.#poolSize
        ? `; all ${this.#poolSize} connections of this process were busy, so raise poolSize if the server is fine`
        : "";
      return new DatabaseUnreachableError(this.where, operation, detail + busy, { cause: scrubbed(err, detail) });
    }
    if ((err as { code?: unknown }).code === "3D000") {
      return new DatabaseConfigError(`${operation}: ${detail} at ${this.where}; create it (createdb) or fix the database name in \`database\``, { cause: scrubbed(err, detail) });
    }
    if (err instanceof Error && this.#password && err.message.includes(this.#password)) return scrubbed(err, detail);
    return err instanceof Error ? err : new Error(`${operation}: ${detail}`);
  }

  /** Ends the pool; later calls reject with QueueClosedError. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.end();
  }
}

/** err itself when its message holds no secret, else a plain copy with the scrubbed text and its SQLSTATE. */
function scrubbed(err: unknown, detail: string): Error {
  if (err instanceof Error && err.message === detail) return err;
  const copy = new Error(detail);
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === "string") Object.assign(copy, { code });
  return copy;
}
