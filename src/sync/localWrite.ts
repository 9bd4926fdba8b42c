/**
 * The local side of a download's temporary file, made safe against what may already stand in
 * the destination folder (issue 12 #5; FAULTS.md B2, I5, I12): the temporary file is created
 * exclusively and never through a link (O_CREAT|O_EXCL|O_NOFOLLOW), a resumed one is opened
 * with O_NOFOLLOW and checked to be a regular file, and only the very file ferry wrote (same
 * device and inode) is renamed into place. Disk conditions come out as LocalFileError.
 */
import { closeSync, constants, fstatSync, lstatSync, open as openCallback, type Stats } from "node:fs";
import { lstat, mkdir, unlink } from "node:fs/promises";
import { dirname } from "node:path";
import { promisify } from "node:util";
import { toLocalFileError } from "./localErrors.js";

const { O_CREAT, O_EXCL, O_NOFOLLOW, O_RDWR, O_WRONLY } = constants;
const CREATE_FLAGS = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW;
const RESUME_FLAGS = O_RDWR | O_NOFOLLOW;
const openFd = promisify(openCallback);

/** The server sent more bytes than it announced (SIZE or the listing): the file is refused, not published. */
export class SizeOverrunError extends Error {
  override readonly name = "SizeOverrunError";
  constructor(readonly announced: number, readonly path: string) {
    super(`the server sent more than the ${announced} bytes it announced for ${path}; the download was stopped and not published`);
  }
}

/** Which file an opened temporary file is, to check before publishing that it is still the one at the name. */
export interface PartIdentity {
  readonly dev: number;
  readonly ino: number;
}

/** Something other than a regular file stands at the temporary name and cannot be moved aside. */
export class PartInTheWayError extends Error {
  override readonly name = "PartInTheWayError";
  constructor(readonly path: string, what: string) {
    super(`refusing to download through ${path}: a ${what} stands at the temporary name; remove it and try again`);
  }
}

function kind(s: Stats): string {
  return s.isDirectory() ? "folder" : s.isSymbolicLink() ? "symbolic link" : s.isFIFO() ? "named pipe" : s.isSocket() ? "socket" : "special file";
}

/**
 * Clear the temporary name for a fresh file: a stale partial, a symbolic link, a pipe is
 * unlinked (unlink never follows a link); a folder is refused. ENOENT means it is already free.
 */
async function clearPart(path: string): Promise<void> {
  let s: Stats;
  try {
    s = await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
    throw toLocalFileError(err, path);
  }
  if (s.isDirectory()) throw new PartInTheWayError(path, kind(s));
  await unlink(path).catch((err: unknown) => {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw toLocalFileError(err, path);
  });
}

/**
 * Create the temporary file `path` afresh, exclusively and without following a link; whatever
 * stood there is removed first (never written through). Resolves with the raw descriptor (a
 * WriteStream or synchronous writes go through it, as fast as before) and its identity.
 */
export async function createPartFd(path: string): Promise<{ fd: number; id: PartIdentity }> {
  for (let tries = 0; ; tries++) {
    let fd: number;
    try {
      fd = await openFd(path, CREATE_FLAGS, 0o666);
    } catch (err) {
      // EEXIST: something is there (even a dangling link). ELOOP: a link, on systems where
      // O_NOFOLLOW wins over O_EXCL. Clear it and try again; a racer that keeps planting
      // links gets a clear error, never a write through its link.
      const code = (err as NodeJS.ErrnoException).code;
      if ((code === "EEXIST" || code === "ELOOP") && tries < 3) {
        await clearPart(path);
        continue;
      }
      if (code === "EEXIST" || code === "ELOOP") throw new PartInTheWayError(path, "file that keeps coming back");
      throw toLocalFileError(err, path);
    }
    return { fd, id: identityOfFd(fd) };
  }
}

/**
 * Open a partial file to resume it, never through a link, and only when it is a regular
 * file: undefined otherwise (the caller then starts over, which removes what is in the way).
 */
export async function openPartToResume(path: string): Promise<{ fd: number; id: PartIdentity; size: number } | undefined> {
  let fd: number;
  try {
    fd = await openFd(path, RESUME_FLAGS);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ELOOP" || code === "EISDIR" || code === "ENXIO") return undefined;
    throw toLocalFileError(err, path);
  }
  const s = fstatSync(fd);
  if (!s.isFile()) {
    closeSync(fd);
    return undefined;
  }
  return { fd, id: { dev: s.dev, ino: s.ino }, size: s.size };
}

/** The size of a partial file when it is a regular file (a link or anything else counts as nothing to resume). */
export async function regularPartSize(path: string): Promise<number> {
  return lstat(path).then((s) => (s.isFile() ? s.size : 0), () => 0);
}

function identityOfFd(fd: number): PartIdentity {
  // fstat of a descriptor just opened: synchronous, it touches no disk.
  const s = fstatSync(fd);
  return { dev: s.dev, ino: s.ino };
}

/**
 * Check that `path` is still the regular file ferry wrote (same device and inode) before it is
 * renamed into place: a link or another file swapped in meanwhile is refused, never published.
 */
export function assertOwnPart(path: string, id: PartIdentity): void {
  let s: Stats;
  try {
    s = lstatSync(path);
  } catch (err) {
    throw toLocalFileError(err, path);
  }
  if (!s.isFile() || s.dev !== id.dev || s.ino !== id.ino) {
    throw new PartInTheWayError(path, s.isFile() ? "file ferry did not write" : kind(s));
  }
}

/**
 * mkdir -p that reports the real cause: Node's recursive mkdir answers ENOENT when a missing
 * folder cannot be created on a read-only or unwritable parent (it retries upward and keeps
 * the first error). On a failure the missing folders are made one at a time from the nearest
 * existing one, so the error names the folder and the cause (EROFS, EACCES, ENOSPC) as a
 * LocalFileError.
 */
export async function makeLocalDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
    return;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw toLocalFileError(err, dir);
  }
  const missing: string[] = [];
  for (let p = dir; ; p = dirname(p)) {
    const exists = await lstat(p).then(() => true, () => false);
    if (exists || dirname(p) === p) break;
    missing.unshift(p);
  }
  for (const p of missing) {
    try {
      await mkdir(p);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw toLocalFileError(err, p);
    }
  }
}
