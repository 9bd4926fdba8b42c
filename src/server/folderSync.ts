import { constants } from "node:fs";
import { open } from "node:fs/promises";

/** Flush one folder's entries to disk; `path` names the folder (a /proc/self/fd path of a verified handle). Never rejects. */
export type SyncFolder = (path: string) => Promise<void>;

/**
 * fsync of a folder, best effort: a folder the server may not read (mode -wx) or a
 * filesystem without directory fsync cannot be flushed, and that is no reason to fail an
 * upload whose file itself is on disk.
 */
export const syncFolder: SyncFolder = async (path) => {
  try {
    const handle = await open(path, constants.O_RDONLY | constants.O_DIRECTORY);
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // See above: best effort.
  }
};

/** A folder's fsync that requests are waiting for, through the first waiter's path (its handle stays open until it is served). */
interface Batch {
  readonly done: Promise<void>;
  readonly start: () => void;
}

/**
 * Group commit of folder fsyncs. Uploads publish by renaming into a folder and must not
 * reply 226 before the folder is flushed (issue 12); eight sessions publishing into one
 * folder each paid an fsync of it, one after another on the disk. Here every request for
 * a folder is served by the next fsync of that folder that *starts after the request*: a
 * request that arrives while an fsync runs waits for the following one (the running one
 * may have started before the request's rename, so it proves nothing for it), and all
 * requests that arrive meanwhile share that following fsync. At most one fsync per folder
 * runs at a time.
 *
 * Folders are told apart by device and inode, so a folder renamed or replaced under the
 * same path is never flushed in another's place.
 */
export class FolderSync {
  readonly #sync: SyncFolder;
  /** Per folder: the fsync running now, and the one queued behind it. */
  readonly #folders = new Map<string, { running: Promise<void>; next: Batch | undefined }>();

  constructor(sync: SyncFolder = syncFolder) {
    this.#sync = sync;
  }

  /**
   * Resolves once an fsync of the folder `key` (its "dev:ino") that started after this call
   * has finished. `path` names the folder while the caller waits.
   */
  flush(key: string, path: string): Promise<void> {
    const folder = this.#folders.get(key);
    if (!folder) return this.#run(key, path);
    folder.next ??= this.#queue(key, path);
    return folder.next.done;
  }

  #run(key: string, path: string): Promise<void> {
    const running = this.#flushOnce(path).then(() => this.#finished(key));
    this.#folders.set(key, { running, next: undefined });
    return running;
  }

  #queue(key: string, path: string): Batch {
    let start!: () => void;
    const done = new Promise<void>((resolve) => {
      start = () => {
        const folder = this.#folders.get(key)!;
        folder.next = undefined;
        folder.running = this.#flushOnce(path).then(() => this.#finished(key));
        void folder.running.then(resolve);
      };
    });
    return { done, start };
  }

  /** One fsync; a failure (thrown or rejected) still serves its waiters, as a best-effort flush does. */
  async #flushOnce(path: string): Promise<void> {
    try {
      await this.#sync(path);
    } catch {
      // See syncFolder: best effort.
    }
  }

  /** An fsync of `key` ended: start the queued one, or forget the folder. */
  #finished(key: string): void {
    const folder = this.#folders.get(key);
    if (!folder) return;
    if (folder.next) folder.next.start();
    else this.#folders.delete(key);
  }

  /** Folders with an fsync running (for tests: the map never keeps idle folders). */
  get busyFolders(): number {
    return this.#folders.size;
  }
}
