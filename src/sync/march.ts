import type { Logger } from "../log/index.js";
import type { Entry, Tree } from "./tree.js";

/** What march calls for each pair; each method returns whether to descend into a folder. */
export interface MarchVisitor {
  /** An entry only the source has. */
  srcOnly(src: Entry): boolean;
  /** An entry only the destination has. */
  dstOnly(dst: Entry): boolean;
  /** An entry both sides have under the same name (types may differ: a file against a folder). */
  match(src: Entry, dst: Entry): boolean;
}

/** One row of a merge-join: either side may be missing. */
export interface ListingPair {
  src?: Entry;
  dst?: Entry;
}

/**
 * The sort key of an entry: the name in Unicode NFC (macOS and some servers hand out NFD),
 * with "/" appended to folders so a file and a folder with the same name are distinct keys
 * and sort stably next to their neighbours (rclone march's srcOrDstKey).
 */
export function entryKey(entry: Entry): string {
  const name = entry.name.normalize("NFC");
  return entry.type === "dir" ? `${name}/` : name;
}

function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Sort a listing by key and drop duplicate keys (keeping the first), reporting each. */
function sortUnique(list: readonly Entry[], onDuplicate: (e: Entry) => void): { key: string; entry: Entry }[] {
  const keyed = list.map((entry) => ({ key: entryKey(entry), entry }));
  keyed.sort((a, b) => compareKeys(a.key, b.key)); // Array.prototype.sort is stable
  const out: { key: string; entry: Entry }[] = [];
  for (const k of keyed) {
    if (out.length > 0 && out[out.length - 1]!.key === k.key) onDuplicate(k.entry);
    else out.push(k);
  }
  return out;
}

/**
 * Merge-join two listings of one folder into pairs, in key order. Duplicate names (after
 * NFC) are reported through `onDuplicate` and skipped. A file on one side and a folder of the
 * same name on the other come out as one pair, so the caller can report the conflict.
 */
export function matchListings(src: readonly Entry[], dst: readonly Entry[],
  onDuplicate: (e: Entry, side: "src" | "dst") => void = () => {}): ListingPair[] {
  const s = sortUnique(src, (e) => onDuplicate(e, "src"));
  const d = sortUnique(dst, (e) => onDuplicate(e, "dst"));
  const pairs: ListingPair[] = [];
  let i = 0, j = 0;
  while (i < s.length || j < d.length) {
    const a = s[i], b = d[j];
    const c = a && b ? compareKeys(a.key, b.key) : a ? -1 : 1;
    if (c === 0) { pairs.push({ src: a!.entry, dst: b!.entry }); i++; j++; }
    else if (c < 0) { pairs.push({ src: a!.entry }); i++; }
    else { pairs.push({ dst: b!.entry }); j++; }
  }
  return joinTypeConflicts(pairs);
}

/** Merge a source-only and a destination-only entry whose names clash but types differ. */
function joinTypeConflicts(pairs: ListingPair[]): ListingPair[] {
  const byName = new Map<string, ListingPair>();
  const out: ListingPair[] = [];
  for (const p of pairs) {
    if (p.src && p.dst) { out.push(p); continue; }
    const e = (p.src ?? p.dst)!;
    const name = e.name.normalize("NFC");
    const other = byName.get(name);
    if (other && (p.src ? !other.src : !other.dst)) {
      if (p.src) other.src = p.src; else other.dst = p.dst;
      byName.delete(name);
      continue;
    }
    byName.set(name, p);
    out.push(p);
  }
  return out;
}

/**
 * Walk two trees together folder by folder, calling the visitor for every pair and
 * descending where it says so. A folder missing on one side is simply empty. The walk
 * itself never changes anything (STYLE 9).
 */
export function march(src: Tree, dst: Tree, visitor: MarchVisitor, logger?: Logger): void {
  type Job = { srcDir?: string; dstDir?: string };
  const stack: Job[] = [{ srcDir: "", dstDir: "" }];
  while (stack.length > 0) {
    const job = stack.pop()!;
    const srcList = job.srcDir === undefined ? [] : src.dirs.get(job.srcDir) ?? [];
    const dstList = job.dstDir === undefined ? [] : dst.dirs.get(job.dstDir) ?? [];
    const pairs = matchListings(srcList, dstList, (e, side) =>
      logger?.warn({ path: e.path, side }, "duplicate name in listing (after Unicode normalisation): skipped"));
    const next: Job[] = [];
    for (const { src: s, dst: d } of pairs) {
      if (s && d) {
        const descend = visitor.match(s, d);
        if (descend && s.type === "dir" && d.type === "dir") next.push({ srcDir: s.path, dstDir: d.path });
      } else if (s) {
        if (visitor.srcOnly(s) && s.type === "dir") next.push({ srcDir: s.path });
      } else if (d) {
        if (visitor.dstOnly(d) && d.type === "dir") next.push({ dstDir: d.path });
      }
    }
    // Reverse so the walk visits folders in key order (depth first).
    for (let k = next.length - 1; k >= 0; k--) stack.push(next[k]!);
  }
}
