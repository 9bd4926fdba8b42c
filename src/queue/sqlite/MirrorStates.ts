import type { Database } from "better-sqlite3";
import { checkMirrorState, storedMirrorState, type MirrorStateBody, type MirrorStateRow, type MirrorStates, type MirrorStateWrite, type MirrorStateWritten, type StoredMirrorState } from "../MirrorStates.js";
import { StatementCache } from "../StatementCache.js";

/**
 * The `mirror_states` table of the SQLite queue (migrations/0006_mirror_states.sql). A save runs
 * in one IMMEDIATE transaction, so it holds the write lock from its first read: another
 * connection to the same file (a second process, `ferry status`) waits, and reads the old row or
 * the new one.
 */
export class SqliteMirrorStates implements MirrorStates {
  // parameters
  readonly #db: Database;
  readonly #now: () => number;
  // internal state
  readonly #statements: StatementCache;

  constructor(db: Database, now: () => number) {
    this.#db = db;
    this.#now = now;
    this.#statements = new StatementCache(db);
  }

  async read(src: string, dst: string): Promise<StoredMirrorState | undefined> {
    checkMirrorState(src, dst);
    return this.#read(src, dst);
  }

  async create(src: string, dst: string, body: MirrorStateBody, options: { importedFrom?: string } = {}): Promise<boolean> {
    checkMirrorState(src, dst, body);
    const info = this.#statements.get(
      `INSERT INTO mirror_states (src, dst, version, entries, paths, imported_from, updated_at) VALUES (?, ?, 1, ?, ?, ?, ?)
       ON CONFLICT (src, dst) DO NOTHING`,
    ).run(src, dst, body.entries, body.paths, options.importedFrom ?? null, this.#now());
    return info.changes === 1;
  }

  async write(src: string, dst: string, input: MirrorStateWrite): Promise<MirrorStateWritten> {
    checkMirrorState(src, dst, input.body);
    const save = this.#db.transaction((): MirrorStateWritten => {
      const row = this.#statements.get("SELECT version FROM mirror_states WHERE src = ? AND dst = ?").get(src, dst) as { version: number } | undefined;
      const at = row?.version ?? 0;
      const rebased = input.replaceAt !== at;
      const body = rebased ? input.rebase(at === 0 ? undefined : this.#read(src, dst)) : input.body;
      checkMirrorState(src, dst, body);
      if (at === 0) {
        this.#statements.get("INSERT INTO mirror_states (src, dst, version, entries, paths, updated_at) VALUES (?, ?, 1, ?, ?, ?)")
          .run(src, dst, body.entries, body.paths, this.#now());
      } else {
        this.#statements.get("UPDATE mirror_states SET version = ?, entries = ?, paths = ?, updated_at = ? WHERE src = ? AND dst = ?")
          .run(at + 1, body.entries, body.paths, this.#now(), src, dst);
      }
      return { version: at + 1, rebased };
    });
    return save.immediate();
  }

  #read(src: string, dst: string): StoredMirrorState | undefined {
    const row = this.#statements.get("SELECT version, entries, paths, imported_from, updated_at FROM mirror_states WHERE src = ? AND dst = ?").get(src, dst) as MirrorStateRow | undefined;
    return row ? storedMirrorState(row) : undefined;
  }
}
