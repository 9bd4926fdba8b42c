import { constants, existsSync } from "node:fs";
import { open, readlink, stat, type FileHandle } from "node:fs/promises";
import { join } from "node:path";

/**
 * Confinement at the moment of use (FAULTS.md A8, I4). Checking a path with realpath() and
 * then opening it again lets a local process swap a folder for a symlink in between. So the
 * server opens first and checks what it opened: the kernel's name for a descriptor
 * (readlink /proc/self/fd/N) must lie inside the root. Operations on a directory's entries
 * (create, delete, rename, mkdir) go through a handle on the verified directory, addressed
 * as /proc/self/fd/N/name: the kernel resolves that magic link to the very directory the
 * handle holds, without walking its path again, which is what openat(2) would give (Node
 * has no openat).
 *
 * Remaining limit: a directory verified inside the root and then moved out of it by
 * rename (by someone who can write both there and outside) is still the directory the
 * handle holds, so one operation may land in it after the move. A symlink swap, which is
 * what a local user without write access outside can do, is always caught. Where
 * /proc/self/fd is missing (not Linux), the server falls back to realpath() checks just
 * before use, which narrows but does not close the window.
 */

/** True when the kernel names descriptors under /proc/self/fd (Linux with /proc mounted). */
export const CAN_VERIFY_DESCRIPTORS = process.platform === "linux" && existsSync("/proc/self/fd");

/**
 * O_PATH (Linux; the same value on the architectures listed, O_RDONLY elsewhere): a handle that names a directory
 * without opening it for reading, so a write-only drop folder (mode -wx) can be held too.
 */
const O_PATH = CAN_VERIFY_DESCRIPTORS && ["x64", "ia32", "arm", "arm64", "riscv64", "ppc64", "s390x", "loong64"].includes(process.arch) ? 0o10000000 : 0;

/** The path the kernel gives for an open descriptor, or undefined where it cannot tell. */
export async function descriptorPath(fd: number): Promise<string | undefined> {
  if (!CAN_VERIFY_DESCRIPTORS) return undefined;
  const path = await readlink(`/proc/self/fd/${fd}`);
  return path.endsWith(" (deleted)") ? path.slice(0, -" (deleted)".length) : path;
}

/** A directory held open after its descriptor was verified inside the root. */
export class DirHandle {
  #identity: string | undefined;

  private constructor(
    private readonly handle: FileHandle | undefined,
    /** Its path when it was verified (for messages and the non-Linux fallback). */
    readonly real: string,
  ) {}

  /**
   * Open the directory `real` (its last component never followed) and keep it only if its
   * descriptor lies where `inside` says; otherwise close it and return undefined. With
   * kind "any" it may be any entry (SITE CHMOD), used through `self` only.
   */
  static async open(real: string, inside: (path: string) => boolean, kind: "directory" | "any" = "directory"): Promise<DirHandle | undefined> {
    if (!CAN_VERIFY_DESCRIPTORS) return inside(real) ? new DirHandle(undefined, real) : undefined;
    const handle = await open(real, O_PATH | (kind === "directory" ? constants.O_DIRECTORY : 0) | constants.O_NOFOLLOW);
    try {
      const path = await descriptorPath(handle.fd);
      if (path !== undefined && inside(path)) return new DirHandle(handle, path);
    } catch (err) {
      await handle.close();
      throw err;
    }
    await handle.close();
    return undefined;
  }

  /** A path naming the entry `name` of this very directory (one component, no "/"). */
  at(name: string): string {
    return this.handle ? `/proc/self/fd/${this.handle.fd}/${name}` : join(this.real, name);
  }

  /** A path naming this very directory (or entry) itself, for chmod or opendir. */
  get self(): string {
    return this.handle ? `/proc/self/fd/${this.handle.fd}` : this.real;
  }

  /** "dev:ino" of the directory the handle holds: the same folder under any name, another folder under the same name. */
  async identity(): Promise<string> {
    if (this.#identity === undefined) {
      const st = this.handle ? await this.handle.stat() : await stat(this.real);
      this.#identity = `${st.dev}:${st.ino}`;
    }
    return this.#identity;
  }

  async close(): Promise<void> {
    await this.handle?.close();
  }
}
