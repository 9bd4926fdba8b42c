import { open, rename, unlink } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import { constants } from "node:fs";
import type { DirHandle } from "./confined.js";

/**
 * How an upload treats its target (FAULTS.md A17, I12):
 * - "replace" (STOR; APPE to a missing file): the bytes go to a hidden temporary file
 *   (`.ferry-upload.<random>`, created O_CREAT|O_EXCL|O_NOFOLLOW) beside the target, which is
 *   renamed over the target only once the client ended the data stream cleanly; a cut,
 *   refused or failed upload removes it and leaves the old file as it was. Readers see the
 *   old or the new file whole. The new file keeps the old one's permission bits (and owner,
 *   when the server runs as root); other hard links to the old file keep the old content.
 * - "new" (STOU): as "replace", for a name that does not exist yet.
 * - "append" (APPE to an existing file): appends in place, as resuming clients expect; a cut
 *   APPE leaves the bytes that arrived appended.
 * - "resume" (REST n + STOR, n > 0): rewrites in place from byte n (truncating there), as a
 *   resumed upload needs: the first n bytes are the earlier attempt's. A cut resume leaves
 *   the bytes that arrived, for the next resume.
 */
export type UploadMode = "replace" | "new" | "append" | "resume";

/** An open upload: write through `handle` from `start`, then commit() or close() (which discards an uncommitted temp file). */
export class Upload {
  #committed = false;

  private constructor(
    private readonly dir: DirHandle,
    readonly handle: FileHandle,
    /** Byte offset of the first write; null appends at the file's end (O_APPEND). */
    readonly start: number | null,
    private readonly temp: { name: string; target: string } | undefined,
  ) {}

  /** An upload written straight into an existing file (append, resume). */
  static inPlace(dir: DirHandle, handle: FileHandle, start: number | null): Upload {
    return new Upload(dir, handle, start, undefined);
  }

  /** An upload into the temporary `temp`, published as `target` by commit(). */
  static viaTemp(dir: DirHandle, handle: FileHandle, temp: string, target: string): Upload {
    return new Upload(dir, handle, 0, { name: temp, target });
  }

  /**
   * Publish a complete upload: flush it to disk, rename the temporary file over the target
   * (atomic: a reader opens the old file or the new one), then flush the folder so the new
   * name survives a crash (best effort: some filesystems cannot sync a directory).
   */
  async commit(): Promise<void> {
    if (this.temp) {
      await this.syncTemp(this.temp.name);
      await rename(this.dir.at(this.temp.name), this.dir.at(this.temp.target));
      this.#committed = true;
      await syncDirectory(this.dir.self);
    }
    this.#committed = true;
  }

  /**
   * fsync the temporary file. The stream path (ASCII, TLS) closes the handle when its
   * WriteStream is destroyed, so then a fresh descriptor of the same file is synced.
   */
  private async syncTemp(name: string): Promise<void> {
    if (this.handle.fd !== -1) return this.handle.sync();
    const again = await open(this.dir.at(name), constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      await again.sync();
    } finally {
      await again.close();
    }
  }

  /** Close the file; an uncommitted temporary file is removed (the target was never touched). */
  async close(): Promise<void> {
    try {
      if (this.handle.fd !== -1) await this.handle.close();
    } finally {
      try {
        if (this.temp && !this.#committed) {
          await unlink(this.dir.at(this.temp.name)).catch((err: NodeJS.ErrnoException) => {
            if (err.code !== "ENOENT") throw err;
          });
        }
      } finally {
        await this.dir.close();
      }
    }
  }
}

async function syncDirectory(path: string): Promise<void> {
  try {
    const handle = await open(path, constants.O_RDONLY | constants.O_DIRECTORY);
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // A folder the server may not read (mode -wx), or a filesystem without directory fsync.
  }
}
