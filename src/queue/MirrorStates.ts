// The `mirror_states` table (issue 16): each mirror's sync state in the queue's database, one row
// per mirror written whole. The queue knows nothing of what the JSON means; the daemon's
// DatabaseMirrorStateStore (daemon/jobs/mirrorRun/) encodes the state and merges concurrent saves.

/** A mirror's saved sync state as the database holds it. */
export interface StoredMirrorState {
  /** Saves so far: 1 after the first. */
  readonly version: number;
  /** The records as one JSON object, path → {size, srcStamp, hash?} (the state file's `entries`). */
  readonly entries: string;
  /** How many records `entries` holds. */
  readonly paths: number;
  /** The state file the row was first filled from, or null. */
  readonly importedFrom: string | null;
  /** When it was last written, in ms since the epoch (the queue's clock). */
  readonly updatedAt: number;
}

/** A state to write: the records' JSON and how many there are. */
export interface MirrorStateBody {
  readonly entries: string;
  readonly paths: number;
}

/** One save of a mirror's state (MirrorStates.write). */
export interface MirrorStateWrite {
  /** Write `body` as it is when the row is at this version (0: no row yet); null: always rebase. */
  readonly replaceAt: number | null;
  readonly body: MirrorStateBody;
  /**
   * The body to write instead when the row is not at `replaceAt`: the saver's own changes applied
   * to the row as it is now (undefined: no row). Called inside the transaction, under the row's
   * lock; throwing rolls the save back.
   */
  rebase(current: StoredMirrorState | undefined): MirrorStateBody;
}

/** What a save did. */
export interface MirrorStateWritten {
  /** The row's version after the save. */
  readonly version: number;
  /** True when rebase() made the body (someone else had saved since `replaceAt`). */
  readonly rebased: boolean;
}

/** The per-mirror sync states of the queue's database; each call is one transaction. */
export interface MirrorStates {
  /** The saved state of the mirror from `src` to `dst`, or undefined when none was saved. */
  read(src: string, dst: string): Promise<StoredMirrorState | undefined>;
  /** Adds the mirror's first row (version 1) unless it has one already; false when it had. */
  create(src: string, dst: string, body: MirrorStateBody, options?: { importedFrom?: string }): Promise<boolean>;
  /** Replaces the row under its lock (Postgres: SELECT … FOR UPDATE; SQLite: the write lock), as `input` says. */
  write(src: string, dst: string, input: MirrorStateWrite): Promise<MirrorStateWritten>;
}

/** Throws a TypeError unless a mirror's names and body are usable (an internal error: callers build them). */
export function checkMirrorState(src: string, dst: string, body?: MirrorStateBody): void {
  if (typeof src !== "string" || src === "" || typeof dst !== "string" || dst === "") {
    throw new TypeError(`mirror state: source and destination names must be non-empty strings, got ${JSON.stringify([src, dst])}`);
  }
  if (body && (typeof body.entries !== "string" || !Number.isSafeInteger(body.paths) || body.paths < 0)) {
    throw new TypeError(`mirror state of ${src} → ${dst}: entries must be JSON text and paths a count, got paths ${String(body.paths)}`);
  }
}

/** A `mirror_states` row as both drivers read it (the same columns in SQLite and Postgres). */
export interface MirrorStateRow {
  version: number;
  entries: string;
  paths: number;
  imported_from: string | null;
  updated_at: number;
}

/** The row as the store hands it out. */
export function storedMirrorState(r: MirrorStateRow): StoredMirrorState {
  return { version: r.version, entries: r.entries, paths: r.paths, importedFrom: r.imported_from, updatedAt: r.updated_at };
}
