import { constants, fstatSync, writeSync } from "node:fs";
import { open, unlink } from "node:fs/promises";
import type { DirHandle } from "./confined.js";
import { uploadTempName } from "./pathNames.js";

/** Changes made in a row by the probe; every one must get its own ctime. */
const PROBE_CHANGES = 8;

/**
 * True when the filesystem holding `dir` gives a change made right after a stat a ctime
 * different from the one that stat read (multigrain timestamps, Linux 6.13+ on ext4, xfs,
 * btrfs, tmpfs), so a file's state (digestCache.ts fileState) cannot stay the same across a
 * change of its bytes. With coarse timestamps (one clock tick, 1-10 ms) several changes in
 * a row share one ctime. Probed with a hidden temporary file (a name reserved for uploads)
 * written and stat'ed back to back, synchronously so that no other work stretches the
 * probe across a tick; false when the probe cannot run.
 */
export async function hasFineTimestamps(dir: DirHandle): Promise<boolean> {
  const path = dir.at(uploadTempName());
  const handle = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600).catch(() => undefined);
  if (!handle) return false;
  try {
    const one = Buffer.alloc(1);
    let seen = fstatSync(handle.fd, { bigint: true }).ctimeNs;
    for (let i = 0; i < PROBE_CHANGES; i++) {
      writeSync(handle.fd, one, 0, 1, 0);
      const now = fstatSync(handle.fd, { bigint: true }).ctimeNs;
      if (now === seen) return false;
      seen = now;
    }
    return true;
  } catch {
    return false;
  } finally {
    await handle.close().catch(() => undefined);
    await unlink(path).catch(() => undefined);
  }
}
