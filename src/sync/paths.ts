import { realpath } from "node:fs/promises";
import { dirname, join, sep } from "node:path";
import { unsafeNameReason } from "../protocol/index.js";
import { partName } from "./tree.js";

// Where a transfer's bytes live: the final names, and the temporary `.NAME.ferry-part` beside
// each, on both sides. No I/O but assertInside's realpath.

/** The remote temporary name beside a remote path. */
export function remotePartPath(remotePath: string): string {
  const i = remotePath.lastIndexOf("/");
  return i < 0 ? partName(remotePath) : `${remotePath.slice(0, i + 1)}${partName(remotePath.slice(i + 1))}`;
}

/** The local temporary name beside a local path. */
export function localPartPath(localPath: string): string {
  return join(dirname(localPath), partName(localPath.slice(dirname(localPath).length + 1)));
}

/**
 * The local path of a relative tree path under `root`, refusing any segment that could
 * leave it: a hostile listing cannot steer a download.
 */
export function localPathOf(root: string, rel: string): string {
  if (rel === "") return root;
  for (const seg of rel.split("/")) {
    const why = unsafeNameReason(seg);
    if (why) throw new Error(`refusing unsafe path ${JSON.stringify(rel)}: ${why}`);
  }
  return join(root, ...rel.split("/"));
}

/**
 * Check that a local folder really lies inside the destination root, symlinks resolved, so a
 * pre-existing link cannot redirect a download elsewhere.
 */
export async function assertInside(rootReal: string, dir: string): Promise<void> {
  const real = await realpath(dir);
  if (real !== rootReal && !real.startsWith(rootReal + sep)) throw new Error(`refusing to write through ${dir}: it leads outside the destination (${real})`);
}
