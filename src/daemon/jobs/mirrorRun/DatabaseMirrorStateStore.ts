import type { Logger } from "../../../log/index.js";
import type { MirrorStates, StoredMirrorState } from "../../../queue/index.js";
import { stateFileFor, SyncState, type StateRecord, type StateWriter } from "../../../sync/index.js";
import type { MirrorStateStore } from "./MirrorStateStore.js";
import { applyChanges, decodeEntries, encodeEntries, type StateEntries } from "./stateCodec.js";

/** Options of a DatabaseMirrorStateStore. */
export interface DatabaseMirrorStateStoreOptions {
  /**
   * The folder of the state files the daemon kept before (its `stateDir`): a mirror with no row
   * yet is filled once from its file there, so an upgrade transfers nothing again. Default: none.
   */
  readonly legacyDir?: string;
  /** Hears the import of a file, a damaged row and a merge with another node's save; default silent. */
  readonly logger?: Logger;
}

/**
 * The mirrors' sync states in the queue's database (issue 16): every node of a fleet, and every
 * run of one box (single job or distributed), loads and saves the same row, so a run planned on
 * one node sees what a run finished on another recorded.
 *
 * A save writes the whole state in one statement (a reader sees the old one or the new one). It
 * is made against the version the state was loaded (or last saved) at: when the row is still at
 * that version the body replaces it; when another saver wrote in between, this state's own
 * changes since its last save (records set, paths forgotten) are applied onto the row as it now
 * is, under the row's lock, so neither saver's records are lost. Where both changed one path,
 * the later save wins.
 */
export class DatabaseMirrorStateStore implements MirrorStateStore {
  // parameters
  readonly #table: MirrorStates;
  readonly #legacyDir: string | undefined;
  readonly #logger: Logger | undefined;
  // internal state
  readonly #writers = new WeakMap<SyncState, RowWriter>();

  constructor(table: MirrorStates, options: DatabaseMirrorStateStoreOptions = {}) {
    this.#table = table;
    this.#legacyDir = options.legacyDir;
    this.#logger = options.logger;
  }

  async load(src: string, dst: string): Promise<SyncState> {
    const row = (await this.#table.read(src, dst)) ?? (await this.#importFile(src, dst));
    let entries: StateEntries = new Map();
    if (row) {
      const decoded = decodeEntries(row.entries);
      // As with a damaged state file: starting over only costs comparing (or sending) again.
      if (decoded) entries = decoded;
      else this.#logger?.warn({ src, dst, version: row.version }, "the mirror's saved sync state is not valid JSON; starting from an empty one (the next save replaces it)");
    }
    const writer = new RowWriter(this.#table, src, dst, row?.version ?? 0, entries, this.#logger);
    const state = SyncState.withWriter(src, dst, entries, writer);
    this.#writers.set(state, writer);
    return state;
  }

  async save(src: string, dst: string, state: SyncState): Promise<void> {
    const writer = this.#writers.get(state);
    if (!writer || writer.src !== src || writer.dst !== dst) {
      throw new Error(`internal: the sync state of ${src} → ${dst} was not loaded from this database store`);
    }
    await state.save();
  }

  /** The mirror's state file from before the database held states, copied into its first row (once: the row then exists). */
  async #importFile(src: string, dst: string): Promise<StoredMirrorState | undefined> {
    if (this.#legacyDir === undefined) return undefined;
    const file = stateFileFor(this.#legacyDir, src, dst);
    const legacy = await SyncState.load(file, src, dst);
    if (legacy.size === 0) return undefined;
    const created = await this.#table.create(src, dst, encodeEntries(new Map(legacy.entries())), { importedFrom: file });
    if (created) {
      this.#logger?.info({ src, dst, file, paths: legacy.size }, "imported the mirror's sync state file into the queue's database; from now on the database copy is used and the file is left as it was");
    }
    // Another node may have created the row first: its row is the one to use.
    return this.#table.read(src, dst);
  }
}

/** Saves one loaded state: replace at the known version, else rebase this state's own changes. */
class RowWriter implements StateWriter {
  // parameters
  readonly src: string;
  readonly dst: string;
  readonly #table: MirrorStates;
  readonly #logger: Logger | undefined;
  // internal state
  /** The row's version after this state's last load or save (0: no row). */
  #version: number;
  /** The records as this state last loaded or saved them: what its changes are measured from. */
  #base: ReadonlyMap<string, StateRecord>;
  /** Whether the row held exactly #base at #version (false once a save had to rebase). */
  #inSync = true;

  constructor(table: MirrorStates, src: string, dst: string, version: number, base: StateEntries, logger: Logger | undefined) {
    this.#table = table;
    this.src = src;
    this.dst = dst;
    this.#version = version;
    this.#base = new Map(base);
    this.#logger = logger;
  }

  async write(state: SyncState): Promise<void> {
    const snapshot: ReadonlyMap<string, StateRecord> = new Map(state.entries());
    const base = this.#base;
    const written = await this.#table.write(this.src, this.dst, {
      replaceAt: this.#inSync ? this.#version : null,
      body: encodeEntries(snapshot),
      rebase: (current) => {
        const merged = (current && decodeEntries(current.entries)) ?? new Map<string, StateRecord>();
        applyChanges(merged, base, snapshot);
        return encodeEntries(merged);
      },
    });
    if (written.rebased && this.#inSync) {
      this.#logger?.info({ src: this.src, dst: this.dst, loadedAt: this.#version, savedAs: written.version },
        "the mirror's sync state was saved by another run meanwhile; this run's changes were merged into it");
    }
    this.#version = written.version;
    this.#base = snapshot;
    this.#inSync = !written.rebased;
  }
}
