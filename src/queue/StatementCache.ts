import type { Database, Statement } from "better-sqlite3";

/** Prepared statements by their SQL text, prepared once per database connection. */
export class StatementCache {
  readonly #db: Database;
  readonly #statements = new Map<string, Statement>();

  constructor(db: Database) {
    this.#db = db;
  }

  /** The prepared statement for `sql`, preparing it on first use. */
  get(sql: string): Statement {
    let stmt = this.#statements.get(sql);
    if (!stmt) {
      stmt = this.#db.prepare(sql);
      this.#statements.set(sql, stmt);
    }
    return stmt;
  }
}
