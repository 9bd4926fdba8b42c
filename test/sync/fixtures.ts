import type { Entry, Tree } from "../../src/sync/tree.js";
import { addEntry, emptyTree, parentRel } from "../../src/sync/tree.js";

/** A file entry; `mtime` in seconds since the epoch, precise unless said otherwise. */
export function file(path: string, size = 1, mtime = 1_700_000_000, precise = true): Entry {
  const name = path.slice(path.lastIndexOf("/") + 1);
  return { path, name, type: "file", size, mtime: new Date(mtime * 1000), mtimePrecise: precise, stamp: String(mtime * 1000) };
}

/** A folder entry. */
export function dir(path: string): Entry {
  const name = path.slice(path.lastIndexOf("/") + 1);
  return { path, name, type: "dir", size: 0, mtimePrecise: true };
}

/** A tree from entries (parents need not be listed before children). */
export function tree(...entries: Entry[]): Tree {
  const t = emptyTree();
  for (const e of entries) addEntry(t, parentRel(e.path), e);
  return t;
}
