import { constants, createReadStream, type ReadStream } from "node:fs";
import { chmod, lstat, mkdir, open, opendir, realpath, rename, rmdir, stat, unlink, utimes } from "node:fs/promises";
import type { Dir, Stats } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import { dirname, join, sep } from "node:path";
import { resolveRemotePath, type ListEntry } from "../protocol/index.js";
import { STREAM_CHUNK_BYTES } from "./limits.js";

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
 * (DESIGN.md "Server safety").
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
 * CWD (pyftpdlib AbstractedFS.validpath, STYLE.md guideline 7).
 */
export class FileSystem {
  // parameters
  /** The root, already resolved by realpath. */
  readonly root: RealPath;

  private constructor(root: RealPath) {
    this.root = root;
  }

  /** Open a FileSystem on `root`, which must be an existing directory. */
  static async open(root: string): Promise<FileSystem> {
    const real = await realpath(root);
    const st = await stat(real);
    if (!st.isDirectory()) throw new PathError(`root ${root} is not a directory`);
    return new FileSystem(real as RealPath);
  }

  /** Resolve a path argument against `cwd` ("..", ".", absolute paths) without touching the disk. */
  resolve(cwd: VirtualPath, arg: string): VirtualPath {
    const reason = badPathReason(arg);
    if (reason) throw new PathError(reason);
    return resolveRemotePath(cwd, arg) as VirtualPath;
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

  /** Open the plain file `v` for reading; the caller closes the handle. */
  async openFile(v: VirtualPath): Promise<{ handle: FileHandle; size: number }> {
    const real = await this.existing(v);
    const handle = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW);
    const st = await handle.stat();
    if (!st.isFile()) {
      await handle.close();
      throw new PathError(`${v}: not a plain file`);
    }
    return { handle, size: st.size };
  }

  /** A read stream of the file `v` from byte `start`, in large chunks. */
  async openRead(v: VirtualPath, start = 0): Promise<{ stream: ReadStream; size: number }> {
    const { handle, size } = await this.openFile(v);
    return { stream: createReadStream("", { fd: handle, start, highWaterMark: STREAM_CHUNK_BYTES }), size };
  }

  /**
   * Open `v` for writing: "truncate" (STOR), "append" (APPE), "resume" at `start` (REST +
   * STOR) or "exclusive" (STOU). Returns the handle and the offset of the first write (null:
   * the file's end, appended by O_APPEND). O_NOFOLLOW refuses a dangling symlink planted in
   * place of the name, which would otherwise create its target outside the root.
   */
  async openWrite(v: VirtualPath, mode: "truncate" | "append" | "resume" | "exclusive", start = 0): Promise<{ handle: FileHandle; start: number | null }> {
    let real: string;
    try {
      real = await this.existing(v); // an existing file, or a symlink to one inside the root
    } catch (err) {
      if (err instanceof PathError) throw err;
      real = await this.entry(v);
    }
    const base = constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW;
    const flags = {
      truncate: base | constants.O_TRUNC,
      append: base | constants.O_APPEND,
      resume: base,
      exclusive: base | constants.O_EXCL,
    }[mode];
    const handle = await open(real, flags, 0o644);
    const st = await handle.stat();
    if (!st.isFile()) {
      await handle.close();
      throw new PathError(`${v}: not a plain file`);
    }
    if (mode === "resume") {
      // Resuming past the end would leave a hole of zeros that looks like data.
      if (start > st.size) {
        await handle.close();
        throw new PathError(`${v}: REST offset ${start} is beyond the end of the file (${st.size} bytes)`);
      }
      await handle.truncate(start);
    }
    return { handle, start: mode === "append" ? null : mode === "resume" ? start : 0 };
  }

  /** Open the directory `v` for streaming iteration. */
  async openDir(v: VirtualPath): Promise<Dir> {
    return opendir(await this.existing(v), { bufferSize: 256 });
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

  /** Create the directory `v`. */
  async mkdir(v: VirtualPath): Promise<void> {
    await mkdir(await this.entry(v));
  }

  /** Remove the empty directory `v`. */
  async rmdir(v: VirtualPath): Promise<void> {
    await rmdir(await this.entry(v));
  }

  /** Delete the file (or symlink) `v`; directories are refused. */
  async unlink(v: VirtualPath): Promise<void> {
    const real = await this.entry(v);
    if ((await lstat(real)).isDirectory()) throw new PathError(`${v}: is a directory (use RMD)`);
    await unlink(real);
  }

  /** Rename `from` to `to`, both inside the root. */
  async rename(from: VirtualPath, to: VirtualPath): Promise<void> {
    const src = await this.entry(from);
    await lstat(src); // ENOENT before touching the target
    await rename(src, await this.entry(to));
  }

  /** chmod the entry `v` (permission bits only). */
  async chmod(v: VirtualPath, mode: number): Promise<void> {
    await chmod(await this.existing(v), mode & 0o7777);
  }

  /** Set the modification time of `v`, keeping its access time. */
  async setMtime(v: VirtualPath, mtime: Date): Promise<void> {
    const real = await this.existing(v);
    const st = await stat(real);
    await utimes(real, st.atime, mtime);
  }
}
