import { stateFileFor, SyncState } from "../../../sync/index.js";

/**
 * Where a mirror's sync state lives (sync/state.ts: path → size, stamp, hash). A distributed
 * run loads it on the node that plans and saves it on the node that finishes; today's
 * implementation is the state file of the node at hand, and a store in the shared database
 * (issue 16: "per-mirror sync state moves to the shared store") implements the same two calls.
 */
export interface MirrorStateStore {
  /** The state of the mirror from `src` to `dst` (names without passwords); empty when none was saved. */
  load(src: string, dst: string): Promise<SyncState>;
  /** Saves the state, atomically. */
  save(src: string, dst: string, state: SyncState): Promise<void>;
}

/** The state as one JSON file per mirror in a folder (the single-job path's files: switching paths keeps the state). */
export class FileMirrorStateStore implements MirrorStateStore {
  // parameters
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  load(src: string, dst: string): Promise<SyncState> {
    return SyncState.load(stateFileFor(this.dir, src, dst), src, dst);
  }

  async save(src: string, dst: string, state: SyncState): Promise<void> {
    if (state.file !== stateFileFor(this.dir, src, dst)) {
      throw new Error(`internal: the sync state of ${src} → ${dst} was not loaded from ${this.dir}`);
    }
    await state.save();
  }
}
