import type { SyncState } from "../../../sync/index.js";

/**
 * Where the daemon keeps a mirror's sync state (sync/state.ts: path → size, stamp, hash): the
 * run loads it where it plans and saves it where it finishes, which in a fleet may be two nodes.
 * The daemon's implementation is the queue's database (DatabaseMirrorStateStore), so every node
 * and every run of a box share one copy; the one-shot `ferry mirror` of the CLI, which has no
 * queue, keeps its state file (SyncState.load).
 */
export interface MirrorStateStore {
  /** The state of the mirror from `src` to `dst` (names without passwords); empty when none was saved. */
  load(src: string, dst: string): Promise<SyncState>;
  /** Saves a state this store loaded, atomically, keeping what other savers of the mirror recorded meanwhile. */
  save(src: string, dst: string, state: SyncState): Promise<void>;
}
