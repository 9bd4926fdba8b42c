import { link, lstat, open, opendir, rename, unlink } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import { constants, type BigIntStats } from "node:fs";
import type { DirHandle } from "./confined.js";
import type { DigestCache } from "./digestCache.js";
import type { FolderSync } from "./folderSync.js";
import { isReservedName } from "./pathNames.js";

/**
 * How an upload treats its target (FAULTS.md A17, I12):
 * - "replace" (STOR; APPE to a missing file): the bytes go to a hidden temporary file
 *   (`.ferry-upload.<random>`, created O_CREAT|O_EXCL|O_NOFOLLOW) beside the target, which is
 *   renamed over the target only once the client ended the data stream cleanly. While it
 *   runs, nothing under the target's name changes: readers see the old file or the new one
 *   whole, and a cut, refused (425) or failed (452 disk full) upload leaves an existing file
 *   exactly as it was and removes the temporary file. The new file keeps the old one's
 *   permission bits (and owner, when the server runs as root); other hard links to the old
 *   file keep the old content.
 * - "new" (STOU): as "replace", for a name that does not exist yet.
 * - "append" (APPE to an existing file): appends in place, as resuming clients expect; a cut
 *   APPE leaves the bytes that arrived appended.
 * - "resume" (REST n + STOR, n > 0): rewrites in place from byte n (truncating there), as a
 *   resumed upload needs: the first n bytes are the earlier attempt's. A cut resume leaves
 *   the bytes that arrived, for the next resume.
 *
 * Resuming a new file: when the data connection of an upload to a name that did not exist
 * is cut (or aborted) after some bytes arrived, those bytes are published under the name
 * so that the client can resume with REST n + STOR or APPE, as vsftpd, ProFTPD and
 * Pure-FTPd do by default and as clients (curl -C -, lftp put -c, ferry's own
 * `.NAME.ferry-part` uploads) rely on. No existing content is ever lost that way; a client
 * that must never see a partial file uploads to a temporary name and renames (ferry does).
 * A disk failure (452/552) and an upload that never received a byte publish nothing.
 */
export type UploadMode = "replace" | "new" | "append" | "resume";

/** What close() does with a temporary file that was not committed. */
export type Unfinished = "discard" | "keep-if-new";

/** An open upload: write through `handle` from `start`, then commit(); close() always. */
export class Upload {
  #committed = false;

  private constructor(
    private readonly dir: DirHandle,
    private readonly folders: FolderSync,
    readonly handle: FileHandle,
    /** Byte offset of the first write; null appends at the file's end (O_APPEND). */
    readonly start: number | null,
    private readonly temp: { name: string; target: string; targetExisted: boolean } | undefined,
  ) {}

  /** An upload written straight into an existing file (append, resume). */
  static inPlace(dir: DirHandle, folders: FolderSync, handle: FileHandle, start: number | null): Upload {
    return new Upload(dir, folders, handle, start, undefined);
  }

  /** An upload into the temporary `temp`, published as `target` by commit(). */
  static viaTemp(dir: DirHandle, folders: FolderSync, handle: FileHandle, temp: string, target: string, targetExisted: boolean): Upload {
    return new Upload(dir, folders, handle, 0, { name: temp, target, targetExisted });
  }

  /** True when the upload writes a whole new file from its first byte (a temporary file, then renamed). */
  get isWholeFile(): boolean {
    return this.temp !== undefined;
  }

  /**
   * Publish a complete upload: flush it to disk, rename the temporary file over the target
   * (atomic: a reader opens the old file or the new one), then flush the folder so the new
   * name survives a crash (best effort: some filesystems cannot sync a directory). The
   * folder's fsync is shared with other uploads publishing into it at the same time
   * (FolderSync), and always starts after this rename.
   */
  async commit(): Promise<void> {
    if (this.temp) {
      await this.syncTemp(this.temp.name);
      await rename(this.dir.at(this.temp.name), this.dir.at(this.temp.target));
      this.#committed = true;
      // A folder whose identity cannot be read is flushed on its own.
      const key = await this.dir.identity().catch(() => `unknown:${this.temp!.name}`);
      await this.folders.flush(key, this.dir.self);
    }
    this.#committed = true;
  }

  /**
   * The state of the temporary file now (device and inode: its identity), for publishedState;
   * call before the data arrives, while the handle is open.
   */
  async tempIdentity(): Promise<BigIntStats> {
    return this.handle.stat({ bigint: true });
  }

  /** Learn whether the upload's device `dev` has fine timestamps (DigestCache.learn), probing in the upload's folder. */
  async probeTimestamps(digests: DigestCache, dev: bigint): Promise<void> {
    await digests.learn(dev, this.dir);
  }

  /**
   * After commit(): the published file's stat, when it is still the file this upload wrote
   * (`written`, from tempIdentity); undefined otherwise. Through the handle while it is open
   * (the stream path closes it), else by name in the verified folder.
   */
  async publishedState(written: BigIntStats): Promise<BigIntStats | undefined> {
    if (!this.temp || !this.#committed) return undefined;
    const st = this.handle.fd !== -1
      ? await this.handle.stat({ bigint: true })
      : await lstat(this.dir.at(this.temp.target), { bigint: true }).catch(() => undefined);
    return st && st.isFile() && st.dev === written.dev && st.ino === written.ino ? st : undefined;
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

  /**
   * Close the file. An uncommitted temporary file is removed, or with "keep-if-new" and a
   * target that did not exist, published under the target's name when it holds any bytes
   * (see "Resuming a new file" above). An existing target is never touched.
   */
  async close(unfinished: Unfinished): Promise<void> {
    try {
      if (this.handle.fd !== -1) await this.handle.close();
    } finally {
      try {
        if (this.temp && !this.#committed) await this.#settleTemp(this.temp, unfinished);
      } finally {
        await this.dir.close();
      }
    }
  }

  async #settleTemp(temp: { name: string; target: string; targetExisted: boolean }, unfinished: Unfinished): Promise<void> {
    const from = this.dir.at(temp.name);
    if (unfinished === "keep-if-new" && !temp.targetExisted) {
      const size = await lstat(from).then((st) => st.size, () => 0);
      if (size > 0) {
        // link() fails with EEXIST instead of replacing a file someone created meanwhile.
        const linked = await link(from, this.dir.at(temp.target)).then(() => true, () => false);
        if (!linked) {
          // Filesystems without hard links: rename, unless the name appeared meanwhile.
          const taken = await lstat(this.dir.at(temp.target)).then(() => true, () => false);
          if (!taken) return rename(from, this.dir.at(temp.target));
        }
      }
    }
    await unlink(from).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== "ENOENT") throw err;
    });
  }
}

/**
 * A temporary file untouched for this long belongs to no running upload (a stalled one is cut
 * at the data timeout, seconds to minutes): it is what a server killed mid-STOR left behind.
 */
export const STALE_UPLOAD_MS = 60 * 60 * 1000;

/** Folders already swept by this process: each is swept once, at its first upload (bounded set). */
const swept = new Set<string>();
const SWEPT_MAX = 10_000;

/**
 * Remove stale upload temporaries (see STALE_UPLOAD_MS) from the folder of an upload that is
 * starting, the first time this process uploads into that folder. Through the verified folder
 * handle, so a swapped link cannot lead the removal elsewhere; only regular files with the
 * reserved name are removed. Resolves with how many were removed; never throws.
 */
export async function sweepStaleUploads(dir: DirHandle, now: number = Date.now()): Promise<number> {
  if (swept.has(dir.real)) return 0;
  if (swept.size >= SWEPT_MAX) swept.clear();
  swept.add(dir.real);
  let removed = 0;
  try {
    for await (const entry of await opendir(dir.at("."))) {
      if (!isReservedName(entry.name)) continue;
      const st = await lstat(dir.at(entry.name)).catch(() => undefined);
      if (!st?.isFile() || now - st.mtimeMs < STALE_UPLOAD_MS) continue;
      await unlink(dir.at(entry.name)).then(() => removed++, () => undefined);
    }
  } catch {
    // A folder that cannot be read is no reason to refuse the upload.
  }
  return removed;
}
