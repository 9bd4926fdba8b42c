import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { createHash } from "node:crypto";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import type { HashAlgorithm } from "../protocol/index.js";

/** What the last sync knew about one transferred (or found equal) file. */
export interface StateRecord {
  /** Size in bytes on both sides after the transfer. */
  size: number;
  /** The source entry's stamp (precise mtime in ms, or raw LIST date) at that time. */
  srcStamp: string;
  /** The checksum verified at transfer time, when there was one. */
  hash?: { algorithm: HashAlgorithm; value: string };
}

interface StateFile {
  version: 1;
  src: string;
  dst: string;
  updatedAt: string;
  entries: Record<string, StateRecord>;
}

/**
 * Where a state that is not a file of its own is written (the daemon keeps its mirrors' states
 * in the queue's database: daemon/jobs/mirrorRun/DatabaseMirrorStateStore.ts).
 */
export interface StateWriter {
  /** Writes every record of `state` atomically; SyncState never runs two at once for one state. */
  write(state: SyncState): Promise<void>;
}

/** The state folder: FERRY_STATE_DIR, else $XDG_STATE_HOME/ferry, else ~/.local/state/ferry. */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.FERRY_STATE_DIR) return env.FERRY_STATE_DIR;
  const base = env.XDG_STATE_HOME || join(homedir(), ".local", "state");
  return join(base, "ferry");
}

/** The state file of one mirror (source, destination); the names carry no password. */
export function stateFileFor(stateDir: string, src: string, dst: string): string {
  const id = createHash("sha256").update(`${src}\n${dst}`).digest("hex").slice(0, 20);
  return join(stateDir, `mirror-${id}.json`);
}

/**
 * Per-mirror sync state: a small JSON file of path → {size, srcStamp, hash}, so a re-run
 * against a server whose times cannot be trusted still transfers nothing when nothing
 * changed. Saved atomically (write a temporary file, then rename), so a crash leaves the old
 * or the new state, never a torn one; a lost update only costs a re-transfer.
 */
export class SyncState {
  // parameters
  readonly file: string;
  readonly src: string;
  readonly dst: string;
  // internal state
  #entries: Map<string, StateRecord>;
  #dirty = false;
  #saving: Promise<void> = Promise.resolve();
  #lastSave = Date.now();
  readonly #writer: StateWriter | undefined;

  private constructor(file: string, src: string, dst: string, entries: Map<string, StateRecord>, writer?: StateWriter) {
    this.file = file;
    this.src = src;
    this.dst = dst;
    this.#entries = entries;
    this.#writer = writer;
  }

  /** A state of the given records that `writer` saves instead of a file (`file` is then ""). */
  static withWriter(src: string, dst: string, entries: Iterable<[string, StateRecord]>, writer: StateWriter): SyncState {
    return new SyncState("", src, dst, new Map(entries), writer);
  }

  /** Load the state of a mirror; a missing or unreadable file is an empty state. */
  static async load(file: string, src: string, dst: string): Promise<SyncState> {
    let entries = new Map<string, StateRecord>();
    try {
      const parsed = JSON.parse(await readFile(file, "utf8")) as Partial<StateFile>;
      if (parsed.version === 1 && parsed.src === src && parsed.dst === dst && parsed.entries) {
        entries = new Map(Object.entries(parsed.entries));
      }
    } catch (err) {
      // Missing is normal on a first run; a corrupt file only costs re-checking, so start over.
      if ((err as NodeJS.ErrnoException).code !== "ENOENT" && !(err instanceof SyntaxError)) throw err;
    }
    return new SyncState(file, src, dst, entries);
  }

  /** An in-memory state that is never saved (--dry-run, tests). */
  static empty(): SyncState {
    return new SyncState("", "", "", new Map());
  }

  /** The record of a path, if any. */
  get(path: string): StateRecord | undefined {
    return this.#entries.get(path);
  }

  /** Record a path after a verified transfer or a positive comparison. */
  set(path: string, record: StateRecord): void {
    this.#entries.set(path, record);
    this.#dirty = true;
  }

  /** Forget a path (deleted, or no longer in the source). */
  delete(path: string): void {
    if (this.#entries.delete(path)) this.#dirty = true;
  }

  /** Forget every path not in `keep`. */
  retain(keep: ReadonlySet<string>): void {
    for (const p of this.#entries.keys()) if (!keep.has(p)) this.delete(p);
  }

  /** Every record, by path. */
  entries(): IterableIterator<[string, StateRecord]> {
    return this.#entries.entries();
  }

  /** Number of records. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Save now and then during a long run (at most every `intervalMs`, default 5 s), so a
   * killed run keeps most of what it learned. Never throws: a failed save only costs re-checks.
   */
  saveSoon(intervalMs = 5000): void {
    if (!this.#dirty || !this.#isSaved() || Date.now() - this.#lastSave < intervalMs) return;
    this.#lastSave = Date.now();
    void this.save().catch(() => {});
  }

  /** Write the state atomically when it changed; saves run one at a time. */
  save(): Promise<void> {
    this.#saving = this.#saving.catch(() => {}).then(() => this.#write());
    return this.#saving;
  }

  #isSaved(): boolean {
    return this.#writer !== undefined || this.file !== "";
  }

  async #write(): Promise<void> {
    if (!this.#dirty || !this.#isSaved()) return;
    this.#dirty = false;
    if (this.#writer) {
      try {
        await this.#writer.write(this);
      } catch (err) {
        this.#dirty = true;
        throw err;
      }
      return;
    }
    const body: StateFile = {
      version: 1, src: this.src, dst: this.dst, updatedAt: new Date().toISOString(),
      entries: Object.fromEntries(this.#entries),
    };
    try {
      await mkdir(dirname(this.file), { recursive: true, mode: 0o700 });
      const tmp = `${this.file}.${process.pid}.tmp`;
      await writeFile(tmp, JSON.stringify(body), { mode: 0o600 });
      await rename(tmp, this.file);
    } catch (err) {
      this.#dirty = true;
      throw err;
    }
  }
}
