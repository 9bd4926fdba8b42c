import { lstat } from "node:fs/promises";
import { remotePathOf, type SyncPool, type TransferOp } from "../../../sync/index.js";
import { localPathOf } from "../../../sync/paths.js";
import { parentRel } from "../../../sync/tree.js";
import { DEFAULT_MODIFY_WINDOW_MS } from "../../../sync/compare.js";

/**
 * For a part's retry (its earlier attempt died or failed after sending some files): the files
 * already at the destination as this run left them, with the source's size and a precise
 * modification time within the modify window (publish sets it), which need not be sent again.
 * Only precise times count (local files, MLSD), as in compare(); a folder that cannot be listed
 * keeps all its files to send. Not used with checksum comparison, where a file may be planned
 * although its size and time already agree.
 */
export async function filesInPlace(ops: readonly TransferOp[], o: { direction: "upload" | "download"; localRoot: string; remoteRoot: string; pool: SyncPool; signal?: AbortSignal }): Promise<Set<string>> {
  const inPlace = new Set<string>();
  const matches = (op: TransferOp, size: number | undefined, mtime: Date | undefined): boolean =>
    op.mtime !== undefined && size === op.size && mtime !== undefined && Math.abs(mtime.getTime() - op.mtime.getTime()) <= DEFAULT_MODIFY_WINDOW_MS;
  if (o.direction === "download") {
    for (const op of ops) {
      const st = await lstat(localPathOf(o.localRoot, op.path)).catch(() => undefined);
      if (st?.isFile() && matches(op, st.size, st.mtime)) inPlace.add(op.path);
    }
    return inPlace;
  }
  const byDir = new Map<string, TransferOp[]>();
  for (const op of ops) {
    const dir = parentRel(op.path);
    byDir.set(dir, [...(byDir.get(dir) ?? []), op]);
  }
  for (const [dir, list] of byDir) {
    o.signal?.throwIfAborted();
    let entries;
    try {
      entries = await o.pool.use((c) => c.list(remotePathOf(o.remoteRoot, dir), o.signal ? { signal: o.signal } : {}));
    } catch {
      continue; // the transfers will meet whatever is wrong, with their retries and messages
    }
    const byName = new Map(entries.filter((e) => e.type === "file").map((e) => [e.name, e]));
    for (const op of list) {
      const e = byName.get(op.path.slice(dir === "" ? 0 : dir.length + 1));
      if (e && matches(op, e.size, e.modifiedAt)) inPlace.add(op.path);
    }
  }
  return inPlace;
}
