import { execFileSync } from "node:child_process";
import { open, unlink } from "node:fs/promises";
import assert from "node:assert/strict";

/** Whether this process may mount (root). Outside CI a test without it is skipped; in CI it fails loudly. */
export function canMount(): boolean {
  const root = process.getuid?.() === 0;
  if (!root && process.env.CI === "true") assert.fail("this fault test needs root (tmpfs mounts) and CI must run it as root");
  return root;
}

/** Mount a tmpfs of `size` (e.g. "2m") on dir; returns the unmount function (lazy, so a busy file cannot block the cleanup). */
export function mountTmpfs(dir: string, size: string): () => void {
  execFileSync("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir]);
  return () => {
    try {
      execFileSync("umount", ["-l", dir]);
    } catch {
      // already gone
    }
  };
}

/** Remount a mounted dir read-only or read-write. */
export function remount(dir: string, mode: "ro" | "rw"): void {
  execFileSync("mount", ["-o", `remount,${mode}`, dir]);
}

/** Write zeros to `path` until the filesystem is full (ENOSPC); returns the bytes written. */
export async function fillUp(path: string): Promise<number> {
  const fh = await open(path, "w");
  const chunk = Buffer.alloc(64 * 1024);
  let written = 0;
  try {
    for (;;) {
      try {
        const { bytesWritten } = await fh.write(chunk, 0, chunk.length);
        written += bytesWritten;
        if (bytesWritten < chunk.length) break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOSPC") break;
        throw err;
      }
    }
    // The last blocks: a smaller write still fits.
    for (let n = 4096; ; ) {
      try {
        const { bytesWritten } = await fh.write(Buffer.alloc(n), 0, n);
        if (bytesWritten === 0) break;
        written += bytesWritten;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOSPC") break;
        throw err;
      }
    }
  } finally {
    await fh.close();
  }
  return written;
}

/** Delete the filler made by fillUp. */
export async function freeUp(path: string): Promise<void> {
  await unlink(path);
}
