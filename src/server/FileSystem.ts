import { constants } from "node:fs";
import { chmod, lstat, lutimes, mkdir, open, opendir, realpath, rename, rmdir, stat, unlink, utimes } from "node:fs/promises";
import type { BigIntStats, Dir, Stats } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import { basename, dirname, join, sep } from "node:path";
import { resolveRemotePath, type ListEntry } from "../protocol/index.js";
import { descriptorPath, DirHandle } from "./confined.js";
import { FolderSync } from "./folderSync.js";
import { checkPathEncoding, isReservedName, uploadTempName } from "./pathNames.js";
import { sweepStaleUploads, Upload, type UploadMode } from "./Upload.js";

/** A path as the FTP user sees it: absolute, normalised, rooted at the user's root ("/a/b"). */
export type VirtualPath = string & { readonly __brand: "VirtualPath" };
/** A path on the local disk, checked to lie inside the user's root. */
export type RealPath = string & { readonly __brand: "RealPath" };

/** A path the user may not use: outside the root, or a name with NUL/CR/LF. Replied as 550. */
export class PathError extends Error {
  override readonly name = "PathError";
}

/** The virtual root. */
export const ROOT_PATH = "/" as VirtualPath;

/**
 * Why a path argument is refused, or undefined. NUL cannot reach a file name on Unix and
 * CR/LF in a name would let it forge lines in LIST output or in a later command
 * (README, "Safety rules": confinement is checked on the opened descriptor).
 */
export function badPathReason(arg: string): string | undefined {
  if (arg.includes("\0")) return "path contains a NUL byte";
  if (/[\r\n]/.test(arg)) return "path contains CR or LF";
  return undefined;
}

/** Stats of an entry with its kind, as listings need them. */
export function toListEntry(st: Stats): ListEntry {
  const type = st.isDirectory() ? "dir" : st.isFile() ? "file" : st.isSymbolicLink() ? "link" : "other";
  return { type, size: st.size, mtime: st.mtime, mode: st.mode, nlink: st.nlink, dev: st.dev, ino: st.ino };
}

/**
 * The files of one user, confined to a root directory. Handlers speak VirtualPath; every
 * operation maps it to a RealPath and checks containment with realpath() *when the path is
 * used*, so a symlink that leads out of the root is refused even if it appeared after a
 * CWD (pyftpdlib AbstractedFS.validpath, STYLE.md guideline 7). Operations that read or
 * change data then check again what they actually opened (confined.ts): a file's
 * descriptor, or a handle on the directory whose entry they create, delete or rename, so a
 * folder swapped for a symlink between the check and the use is caught (A8). Metadata
 * reads (SIZE, MDTM, MLST, listing entries' stats) still use the realpath check alone: a
 * racing local process could at most make them report an outside entry's size or time.
 */
export class FileSystem {
  // parameters
  /** The root, already resolved by realpath. */
  readonly root: RealPath;
  /** Folder fsyncs after uploads, shared by all sessions of a server (group commit). */
  readonly #folders: FolderSync;

  private constructor(root: RealPath, folders: FolderSync) {
    this.root = root;
    this.#folders = folders;
  }

  /**
   * Open a FileSystem on `root`, which must be an existing directory. `folders`: the server's
   * FolderSync, so that uploads of all its sessions share folder fsyncs; default one of its own.
   */
  static async open(root: string, folders: FolderSync = new FolderSync()): Promise<FileSystem> {
    const real = await realpath(root);
    const st = await stat(real);
    if (!st.isDirectory()) throw new PathError(`root ${root} is not a directory`);
    return new FileSystem(real as RealPath, folders);
  }

  /** Resolve a path argument against `cwd` ("..", ".", absolute paths) without touching the disk. */
  resolve(cwd: VirtualPath, arg: string): VirtualPath {
    const reason = badPathReason(arg);
    if (reason) throw new PathError(reason);
    checkPathEncoding(arg);
    const v = resolveRemotePath(cwd, arg) as VirtualPath;
    // Upload temporaries are another session's unfinished file: no command may read,
    // rename or delete them (an admin removes stale ones locally).
    if (v.split("/").some(isReservedName)) throw new PathError(`${v}: reserved for uploads in progress`);
    return v;
  }

  /** The local path of `v`, lexically inside the root (not yet checked against symlinks). */
  toReal(v: VirtualPath): string {
    return v === "/" ? this.root : join(this.root, v);
  }

  /** True when a resolved local path lies inside the root. */
  contains(real: string): boolean {
    if (real === this.root) return true;
    const prefix = this.root.endsWith(sep) ? this.root : this.root + sep;
    return real.startsWith(prefix);
  }

  /** realpath of an existing `v`, refused when a symlink leads outside the root. */
  async existing(v: VirtualPath): Promise<RealPath> {
    const real = await realpath(this.toReal(v));
    if (!this.contains(real)) throw new PathError(`${v}: leads outside your root`);
    return real as RealPath;
  }

  /**
   * The local path of the directory entry `v` itself (its final component not followed):
   * the parent is resolved and checked, the name appended. For create, delete and rename,
   * which act on the entry, so a symlink can be removed but never written through.
   */
  async entry(v: VirtualPath): Promise<RealPath> {
    if (v === "/") throw new PathError("the root directory itself cannot be changed");
    const parent = await this.existing(dirname(v) as VirtualPath);
    return join(parent, v.slice(v.lastIndexOf("/") + 1)) as RealPath;
  }

  /** stat() of `v` (following symlinks inside the root). */
  async stat(v: VirtualPath): Promise<Stats> {
    return stat(await this.existing(v));
  }

  /** True when `v` exists (symlinks out of the root count as absent). */
  async exists(v: VirtualPath): Promise<boolean> {
    try {
      await this.existing(v);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * A handle on the existing directory `real` (already resolved), verified inside the root
   * by its descriptor; the caller closes it.
   */
  async dirHandle(real: string, v: VirtualPath): Promise<DirHandle> {
    const dir = await DirHandle.open(real, (p) => this.contains(p));
    if (!dir) throw new PathError(`${v}: leads outside your root`);
    return dir;
  }

  /** The verified directory holding the entry `v`, and the entry's name in it (not followed). */
  async parentOf(v: VirtualPath): Promise<{ dir: DirHandle; name: string }> {
    const real = await this.entry(v);
    return { dir: await this.dirHandle(dirname(real), v), name: basename(real) };
  }

  /**
   * The directory entry a write to `v` lands on: `v` itself, or where a symlink at `v`
   * leads when that stays inside the root (as reads follow it). A symlink leading out of
   * the root, or nowhere, is refused. `existing` is the entry's lstat, if there is one.
   */
  async writeTarget(v: VirtualPath): Promise<{ dir: DirHandle; name: string; existing: Stats | undefined }> {
    let real: string;
    try {
      real = await realpath(this.toReal(v));
      if (!this.contains(real)) throw new PathError(`${v}: leads outside your root`);
      if (real === this.root) throw new PathError(`${v}: is a directory`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      real = await this.entry(v); // a new name
    }
    const dir = await this.dirHandle(dirname(real), v);
    try {
      const name = basename(real);
      const existing = await lstat(dir.at(name)).catch((err: NodeJS.ErrnoException) => {
        if (err.code === "ENOENT") return undefined;
        throw err; // ENAMETOOLONG (553) before any byte is received
      });
      if (existing?.isSymbolicLink()) throw new PathError(`${v}: a symbolic link that leads outside your root or nowhere`);
      if (existing && !existing.isFile()) throw new PathError(`${v}: not a plain file`);
      return { dir, name, existing };
    } catch (err) {
      await dir.close();
      throw err;
    }
  }

  /**
   * Open `real` (its last component not followed) and keep the handle only if its
   * descriptor lies inside the root and is a plain file. O_NONBLOCK: opening a FIFO must
   * not hang a thread-pool thread; it is then refused as not a plain file.
   */
  private async openVerified(real: string, v: VirtualPath, flags: number): Promise<{ handle: FileHandle; st: BigIntStats }> {
    const handle = await open(real, flags | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    try {
      const at = await descriptorPath(handle.fd);
      if (at !== undefined && !this.contains(at)) throw new PathError(`${v}: leads outside your root`);
      const st = await handle.stat({ bigint: true });
      if (!st.isFile()) throw new PathError(`${v}: not a plain file`);
      return { handle, st };
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  /**
   * Open the plain file `v` for reading; the caller closes the handle. `stats` is the
   * descriptor's stat as opened (nanosecond times, see digestCache.ts), read no earlier than
   * `statAt`.
   */
  async openFile(v: VirtualPath): Promise<{ handle: FileHandle; size: number; stats: BigIntStats; statAt: number }> {
    const real = await this.existing(v);
    const statAt = Date.now(); // no later than the stat: see DigestCache.canKeep
    const { handle, st } = await this.openVerified(real, v, constants.O_RDONLY);
    return { handle, size: Number(st.size), stats: st, statAt };
  }

  /**
   * Open an upload to `v` (see Upload for what each mode does to the file). Nothing under
   * the final name changes before the data connection opens; a "replace" upload writes a
   * hidden temporary file created O_CREAT|O_EXCL|O_NOFOLLOW in the verified target folder.
   */
  async openUpload(v: VirtualPath, mode: UploadMode, start = 0): Promise<Upload> {
    const { dir, name, existing } = await this.writeTarget(v);
    try {
      if (mode === "new" && existing) throw Object.assign(new Error(`${v} exists`), { code: "EEXIST" });
      if (mode === "resume" || (mode === "append" && existing)) {
        if (mode === "resume" && start > (existing?.size ?? 0)) {
          // Resuming past the end would leave a hole of zeros that looks like data.
          throw new PathError(`${v}: REST offset ${start} is beyond the end of the file (${existing?.size ?? 0} bytes)`);
        }
        const flags = constants.O_WRONLY | (mode === "append" ? constants.O_APPEND : 0);
        const { handle } = await this.openVerified(dir.at(name), v, flags);
        if (mode === "resume") await handle.truncate(start).catch(async (err: unknown) => {
          await handle.close();
          throw err;
        });
        return Upload.inPlace(dir, this.#folders, handle, mode === "append" ? null : start);
      }
      const temp = uploadTempName();
      await sweepStaleUploads(dir); // a killed server's leftovers, once per folder and process
      const handle = await open(dir.at(temp), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
      if (existing) await keepOwnership(handle, existing);
      return Upload.viaTemp(dir, this.#folders, handle, temp, name, existing !== undefined);
    } catch (err) {
      await dir.close();
      throw err;
    }
  }

  /** Open the directory `v` for streaming iteration. */
  async openDir(v: VirtualPath): Promise<Dir> {
    const dir = await this.dirHandle(await this.existing(v), v);
    try {
      return await opendir(dir.self, { bufferSize: 256 });
    } finally {
      await dir.close(); // the Dir holds its own descriptor of the same directory
    }
  }

  /**
   * Stats of the entry `name` inside directory `dirReal` for a listing. A symlink is
   * followed when its target stays inside the root; one that dangles or leads out is left
   * out of listings (undefined), revealing nothing about what lies outside.
   */
  async listEntry(dirReal: RealPath, name: string): Promise<ListEntry | undefined> {
    const full = join(dirReal, name);
    try {
      const lst = await lstat(full);
      if (!lst.isSymbolicLink()) return toListEntry(lst);
      const target = await realpath(full);
      return this.contains(target) ? toListEntry(await stat(target)) : undefined;
    } catch {
      return undefined; // vanished while listing, or a dangling link
    }
  }

  /** Run `op` on the entry `v` inside its verified directory, then let the directory go. */
  private async inParent<T>(v: VirtualPath, op: (dir: DirHandle, name: string) => Promise<T>): Promise<T> {
    const { dir, name } = await this.parentOf(v);
    try {
      return await op(dir, name);
    } finally {
      await dir.close();
    }
  }

  /** Create the directory `v`. */
  async mkdir(v: VirtualPath): Promise<void> {
    await this.inParent(v, (dir, name) => mkdir(dir.at(name)));
  }

  /** Remove the empty directory `v`. */
  async rmdir(v: VirtualPath): Promise<void> {
    await this.inParent(v, (dir, name) => rmdir(dir.at(name)));
  }

  /** Delete the file (or symlink) `v`; directories are refused. */
  async unlink(v: VirtualPath): Promise<void> {
    await this.inParent(v, async (dir, name) => {
      if ((await lstat(dir.at(name))).isDirectory()) throw new PathError(`${v}: is a directory (use RMD)`);
      await unlink(dir.at(name));
    });
  }

  /** Rename `from` to `to`, both inside the root (the entries themselves, links not followed). */
  async rename(from: VirtualPath, to: VirtualPath): Promise<void> {
    await this.inParent(from, async (src, srcName) => {
      await lstat(src.at(srcName)); // ENOENT before touching the target
      // Within one folder (a client publishing its temporary name), the source's verified
      // handle is the target's folder too: its descriptor was checked inside the root, which
      // is what opening the folder again would check.
      const dstEntry = await this.entry(to);
      if (dirname(dstEntry) === src.real) return rename(src.at(srcName), src.at(basename(dstEntry)));
      const dst = await this.dirHandle(dirname(dstEntry), to);
      try {
        await rename(src.at(srcName), dst.at(basename(dstEntry)));
      } finally {
        await dst.close();
      }
    });
  }

  /** chmod the entry `v` (permission bits only). */
  async chmod(v: VirtualPath, mode: number): Promise<void> {
    // Through a verified handle on the resolved entry: chmod(path) would follow a symlink
    // swapped in after the check (A8).
    const real = await this.existing(v);
    const entry = await DirHandle.open(real, (p) => this.contains(p), "any");
    if (!entry) throw new PathError(`${v}: leads outside your root`);
    try {
      await chmod(entry.self, mode & 0o7777);
    } finally {
      await entry.close();
    }
  }

  /** Set the modification time of `v`, keeping its access time. */
  async setMtime(v: VirtualPath, mtime: Date): Promise<void> {
    const real = await this.existing(v);
    if (real === this.root) {
      const st = await stat(real);
      return utimes(real, st.atime, mtime);
    }
    // The resolved entry, changed through its verified folder and never followed again.
    const dir = await this.dirHandle(dirname(real), v);
    try {
      const path = dir.at(basename(real));
      const st = await lstat(path);
      await lutimes(path, st.atime, mtime);
    } finally {
      await dir.close();
    }
  }
}

/**
 * A replacement keeps the permission bits of the file it replaces (never set-id bits), and
 * its owner when the server runs as root; failures leave the defaults.
 */
async function keepOwnership(handle: FileHandle, old: Stats): Promise<void> {
  await handle.chmod(old.mode & 0o777).catch(() => undefined);
  if (process.getuid?.() === 0 && (old.uid !== 0 || old.gid !== 0)) await handle.chown(old.uid, old.gid).catch(() => undefined);
}
