import { checkMirrorState, storedMirrorState, type MirrorStateBody, type MirrorStateRow, type MirrorStates, type MirrorStateWrite, type MirrorStateWritten, type StoredMirrorState } from "../MirrorStates.js";
import type { Clock } from "../types.js";
import type { PgDatabase, Sql } from "./PgDatabase.js";

// A save that found no row inserts it; when another node inserted it in between, the save
// locks that row and goes again (as a rebase). Twice is enough: a row, once there, stays.
const WRITE_PASSES = 3;

/**
 * The `mirror_states` table on Postgres (migrations/postgres/0003_mirror_states.sql), shared by
 * the fleet. A save locks the mirror's row (`SELECT … FOR UPDATE`) before deciding between
 * replacing it and rebasing onto it, so nodes saving the same mirror at once are serialised and
 * neither loses the other's records; a reader's single SELECT sees a committed row, whole.
 */
export class PostgresMirrorStates implements MirrorStates {
  // parameters
  readonly #db: PgDatabase;
  readonly #clock: Pick<Clock, "now">;

  constructor(db: PgDatabase, clock: Pick<Clock, "now">) {
    this.#db = db;
    this.#clock = clock;
  }

  async read(src: string, dst: string): Promise<StoredMirrorState | undefined> {
    checkMirrorState(src, dst);
    return this.#db.run(`read the sync state of ${src} → ${dst}`, (sql) => readRow(sql, src, dst));
  }

  async create(src: string, dst: string, body: MirrorStateBody, options: { importedFrom?: string } = {}): Promise<boolean> {
    checkMirrorState(src, dst, body);
    const { rowCount } = await this.#db.statement(`create the sync state of ${src} → ${dst}`,
      `INSERT INTO mirror_states (src, dst, version, entries, paths, imported_from, updated_at) VALUES ($1, $2, 1, $3, $4, $5, $6)
       ON CONFLICT (src, dst) DO NOTHING`,
      [src, dst, body.entries, body.paths, options.importedFrom ?? null, this.#clock.now()]);
    return rowCount === 1;
  }

  async write(src: string, dst: string, input: MirrorStateWrite): Promise<MirrorStateWritten> {
    checkMirrorState(src, dst, input.body);
    return this.#db.transaction(`save the sync state of ${src} → ${dst}`, async (sql) => {
      for (let pass = 1; ; pass++) {
        const { rows } = await sql.query<{ version: number }>("SELECT version FROM mirror_states WHERE src = $1 AND dst = $2 FOR UPDATE", [src, dst]);
        const at = rows[0]?.version ?? 0;
        const rebased = input.replaceAt !== at;
        // Only a rebase reads the row's records: a plain save sends its body and nothing comes back.
        const body = rebased ? input.rebase(at === 0 ? undefined : await readRow(sql, src, dst)) : input.body;
        checkMirrorState(src, dst, body);
        if (at > 0) {
          await sql.query("UPDATE mirror_states SET version = $3, entries = $4, paths = $5, updated_at = $6 WHERE src = $1 AND dst = $2",
            [src, dst, at + 1, body.entries, body.paths, this.#clock.now()]);
          return { version: at + 1, rebased };
        }
        const inserted = await sql.query(
          `INSERT INTO mirror_states (src, dst, version, entries, paths, updated_at) VALUES ($1, $2, 1, $3, $4, $5)
           ON CONFLICT (src, dst) DO NOTHING`,
          [src, dst, body.entries, body.paths, this.#clock.now()]);
        if (inserted.rowCount === 1) return { version: 1, rebased };
        if (pass >= WRITE_PASSES) throw new Error(`save the sync state of ${src} → ${dst}: its row appeared and vanished ${pass} times while saving; try again`);
      }
    });
  }
}

async function readRow(sql: Sql, src: string, dst: string): Promise<StoredMirrorState | undefined> {
  const { rows } = await sql.query<MirrorStateRow>("SELECT version, entries, paths, imported_from, updated_at FROM mirror_states WHERE src = $1 AND dst = $2", [src, dst]);
  return rows[0] ? storedMirrorState(rows[0]) : undefined;
}
