import type { Logger } from "../log/index.js";
import { compare, type CompareOptions } from "./compare.js";
import { march } from "./march.js";
import type { SyncState } from "./state.js";
import type { Entry, EntryType, Tree } from "./tree.js";

/** Which way a mirror goes: local → remote (upload) or remote → local (download). */
export type Direction = "upload" | "download";

/** Copy one file from the source to the destination. */
export interface TransferOp {
  kind: Direction;
  path: string;
  size: number;
  /** The source's mtime, set on the destination after publishing. */
  mtime?: Date;
  /** The source's stamp, recorded in the sync state. */
  srcStamp?: string;
  /** Why the file is sent: "new", "size differs (…)", … */
  reason: string;
  /** Bytes of a leftover partial file that look safe to resume from. */
  resumeFrom?: number;
}

/** One step of a plan. Plans are data: --dry-run prints them, execute runs them in order. */
export type PlanOp =
  | { kind: "mkdir"; path: string }
  | TransferOp
  | { kind: "setMtime"; path: string; mtime: Date; reason: string }
  | { kind: "delete"; path: string; type: EntryType; reason: string; partial?: boolean };

/** The diff of two trees, as ordered operations plus what needed none. */
export interface Plan {
  readonly direction: Direction;
  readonly ops: readonly PlanOp[];
  /** Files found equal, with the reason (compare's ladder). */
  readonly unchanged: readonly { path: string; reason: string }[];
  /** Names that are a file on one side and a folder on the other: never touched, reported as failures. */
  readonly conflicts: readonly { path: string; reason: string }[];
  /** Source files taking part (sent or unchanged), for pruning the sync state. */
  readonly sourceFiles: ReadonlySet<string>;
}

/** Options of buildPlan. */
export interface PlanOptions extends Omit<CompareOptions, "state"> {
  direction: Direction;
  /** Delete destination entries the source lacks (--delete); default false. */
  delete?: boolean;
  /** Sync state consulted by compare; default none. */
  state?: SyncState;
  logger?: Logger;
}

/**
 * Diff two trees into a plan whose order is safe to interrupt at any point: folders first
 * (parents before children), then transfers (each published atomically), then mtime fixes,
 * then removal of stale partial files, and deletions last, children before parents, so an
 * interrupted run never leaves less than it found. Whether deletions run at all is decided
 * by execute (only after a run without errors).
 */
export function buildPlan(src: Tree, dst: Tree, options: PlanOptions): Plan {
  const mkdirs: PlanOp[] = [], transfers: TransferOp[] = [], mtimes: PlanOp[] = [], deletes: PlanOp[] = [];
  const unchanged: { path: string; reason: string }[] = [];
  const conflicts: { path: string; reason: string }[] = [];
  const sourceFiles = new Set<string>();
  const partialsUsed = new Set<string>();
  const transfer = (s: Entry, reason: string): void => {
    const partial = dst.partials.get(s.path);
    if (partial) partialsUsed.add(s.path);
    transfers.push({
      kind: options.direction, path: s.path, size: s.size, reason,
      ...(s.mtime ? { mtime: s.mtime } : {}), ...(s.stamp !== undefined ? { srcStamp: s.stamp } : {}),
      ...(partial && isResumable(s, partial) ? { resumeFrom: partial.size } : {}),
    });
  };
  march(src, dst, {
    srcOnly(s) {
      if (s.type === "dir") mkdirs.push({ kind: "mkdir", path: s.path });
      else { sourceFiles.add(s.path); transfer(s, "new"); }
      return true;
    },
    dstOnly(d) {
      if (!options.delete) return false;
      deletes.push({ kind: "delete", path: d.path, type: d.type, reason: "not in source" });
      return true;
    },
    match(s, d) {
      if (s.type !== d.type) {
        conflicts.push({ path: s.path, reason: `a ${s.type === "dir" ? "folder" : "file"} in the source but a ${d.type === "dir" ? "folder" : "file"} in the destination: remove one of them` });
        return false;
      }
      if (s.type === "dir") {
        // A source folder whose listing failed (unreadable, cut short) is not an empty one:
        // its destination copy must stay, and the run is not clean, so no deletion runs.
        if (!src.dirs.has(s.path)) {
          conflicts.push({ path: s.path, reason: "the source folder could not be listed: its copy in the destination is left as it is" });
          return false;
        }
        return true;
      }
      sourceFiles.add(s.path);
      const c = compare(s, d, { ...options, state: options.state?.get(s.path) });
      if (!c.same) { transfer(s, c.reason); return false; }
      unchanged.push({ path: s.path, reason: c.reason });
      const off = s.mtime && d.mtime && s.mtimePrecise && d.mtimePrecise
        ? Math.abs(s.mtime.getTime() - d.mtime.getTime()) : 0;
      if (s.hash && d.hash && s.mtime && off > (options.modifyWindowMs ?? 1000)) {
        mtimes.push({ kind: "setMtime", path: s.path, mtime: s.mtime, reason: "same content, modification time differs" });
      }
      return false;
    },
  }, options.logger);
  const stale: PlanOp[] = [];
  for (const [path, part] of dst.partials) {
    if (!partialsUsed.has(path)) stale.push({ kind: "delete", path: part.path, type: "file", reason: "leftover of an interrupted transfer", partial: true });
  }
  const byPath = (a: { path: string }, b: { path: string }): number => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);
  mkdirs.sort(byPath); transfers.sort(byPath); mtimes.sort(byPath); stale.sort(byPath);
  deletes.sort((a, b) => byPath(b, a));
  return { direction: options.direction, ops: [...mkdirs, ...transfers, ...mtimes, ...stale, ...deletes], unchanged, conflicts, sourceFiles };
}

/**
 * A leftover partial file is resumed only when it is shorter than the source and was
 * written after the source last changed (both times precise); anything else starts over,
 * because a partial of an older version would pass a size-only check.
 */
export function isResumable(src: Entry, partial: Entry): boolean {
  return partial.size > 0 && partial.size < src.size && src.mtimePrecise && partial.mtimePrecise &&
    src.mtime !== undefined && partial.mtime !== undefined && partial.mtime.getTime() >= src.mtime.getTime();
}

/** Totals of a plan, for the summary and the progress bar. */
export function planTotals(plan: Plan): { transfers: number; bytes: number; mkdirs: number; deletes: number } {
  let transfers = 0, bytes = 0, mkdirs = 0, deletes = 0;
  for (const op of plan.ops) {
    if (op.kind === "upload" || op.kind === "download") { transfers++; bytes += op.size - (op.resumeFrom ?? 0); }
    else if (op.kind === "mkdir") mkdirs++;
    else if (op.kind === "delete" && !op.partial) deletes++;
  }
  return { transfers, bytes, mkdirs, deletes };
}

/** The plan as lines a person reads (--dry-run). */
export function describePlan(plan: Plan): string[] {
  const lines: string[] = [];
  for (const op of plan.ops) {
    switch (op.kind) {
      case "mkdir": lines.push(`mkdir     ${op.path}/`); break;
      case "upload": case "download":
        lines.push(`${op.kind.padEnd(9)} ${op.path} (${formatBytes(op.size)}; ${op.reason}${op.resumeFrom ? `; resume at ${op.resumeFrom}` : ""})`);
        break;
      case "setMtime": lines.push(`touch     ${op.path} (${op.reason})`); break;
      case "delete": lines.push(`delete    ${op.path}${op.type === "dir" ? "/" : ""} (${op.reason})`); break;
      default: { const never: never = op; throw new Error(`unknown plan op ${JSON.stringify(never)}`); }
    }
  }
  for (const c of plan.conflicts) lines.push(`conflict  ${c.path} (${c.reason})`);
  const t = planTotals(plan);
  lines.push(`plan: ${t.transfers} to transfer (${formatBytes(t.bytes)}), ${t.mkdirs} folders to create, ` +
    `${t.deletes} to delete, ${plan.unchanged.length} unchanged, ${plan.conflicts.length} conflicts`);
  return lines;
}

/** 1536 → "1.5 KiB". */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n, i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${units[i]}`;
}
