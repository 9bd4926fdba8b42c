import type { Plan } from "./plan.js";
import type { Tree } from "./tree.js";

/**
 * The most deletions one mirror run may make (rclone's --max-delete): a count of entries, or
 * a percentage of the entries the destination holds (files and folders, after filters).
 */
export type MaxDelete = { readonly count: number } | { readonly percent: number };

/** Options of the deletion guard: what the user allows beyond the defaults. */
export interface DeleteGuardOptions {
  /** Delete even when the source holds no files (Syncthing's folder marker, inverted); default false. */
  allowEmptySource?: boolean;
  /** The most deletions allowed; default unlimited (the empty-source guard still holds). */
  maxDelete?: MaxDelete;
  /** How the source and the destination are shown in messages (a URL without its password, or a path). */
  sourceName: string;
  destinationName: string;
}

/** The deletion limit daemon mirror jobs get unless their config says otherwise. */
export const DAEMON_MAX_DELETE = "50%";

/**
 * Read "--max-delete": a whole number of entries ("100") or a percentage of the destination's
 * entries ("50%", 0 to 100). Throws an Error naming the accepted forms.
 */
export function parseMaxDelete(text: string | number): MaxDelete {
  const s = String(text).trim();
  const pct = /^(\d+(?:\.\d+)?)\s*%$/.exec(s);
  if (pct) {
    const percent = Number(pct[1]);
    if (percent <= 100) return { percent };
  } else if (/^\d+$/.test(s) && Number.isSafeInteger(Number(s))) return { count: Number(s) };
  throw new Error(`max-delete must be a number of entries (e.g. 100) or a percentage of the destination from 0% to 100% (e.g. 50%), not ${JSON.stringify(text)}`);
}

/** "50%" or "100". */
export function formatMaxDelete(m: MaxDelete): string {
  return "count" in m ? String(m.count) : `${m.percent}%`;
}

/** How many files, and entries in all (files and folders), one side of a mirror holds. */
export interface EntryCounts {
  readonly files: number;
  readonly entries: number;
}

/** Files and folders of a tree (leftover partial files are not entries). */
export function entryCounts(tree: Tree): EntryCounts {
  let files = 0, entries = 0;
  for (const list of tree.dirs.values()) {
    for (const e of list) {
      entries++;
      if (e.type === "file") files++;
    }
  }
  return { files, entries };
}

/**
 * Why the plan's deletions must not run, or undefined when they may (they still wait for an
 * error-free run, see executePlan). Two guards, as rclone and Syncthing have them:
 * - a source holding no files at all (an empty listing from a server that lost its mount, a
 *   wrong folder, an unreadable local root) never deletes anything unless allowEmptySource;
 * - more deletions than maxDelete (a count, or a share of the destination's entries) refuse;
 *   allowEmptySource, being explicit about the all-deleting case, lifts it for an empty source.
 * The message names the numbers and the option that lets it through.
 */
export function deleteRefusal(plan: Plan, src: Tree, dst: Tree, o: DeleteGuardOptions): string | undefined {
  const deletes = plan.ops.filter((op) => op.kind === "delete" && !op.partial).length;
  if (deletes === 0) return undefined;
  return deleteRefusalFor(deletes, entryCounts(src), entryCounts(dst), o);
}

/**
 * deleteRefusal over counts instead of trees: `deletes` planned deletions (partial leftovers not
 * counted) against the sides' entry counts at plan time. A distributed run (issue 16) plans on
 * one node and deletes on another, so it carries the counts, not the trees.
 */
export function deleteRefusalFor(deletes: number, source: EntryCounts, destination: EntryCounts, o: DeleteGuardOptions): string | undefined {
  if (deletes === 0) return undefined;
  if (source.files === 0) {
    // Saying allowEmptySource is saying "an empty source means delete everything": no limit
    // below 100% could let that through, so the opt-in covers maxDelete as well.
    if (o.allowEmptySource) return undefined;
    return `refusing to delete ${deletes} entries from ${o.destinationName}: the source ${o.sourceName} ` +
      `${source.entries === 0 ? "is empty" : `holds no files (only ${source.entries} empty folders)`}; ` +
      "pass --allow-empty-source (config: allowEmptySource: true) if that is intended";
  }
  if (!o.maxDelete) return undefined;
  const total = destination.entries;
  const limit = "count" in o.maxDelete ? o.maxDelete.count : Math.floor((total * o.maxDelete.percent) / 100);
  if (deletes <= limit) return undefined;
  return `refusing to delete ${deletes} of the ${total} entries in ${o.destinationName}: more than --max-delete ${formatMaxDelete(o.maxDelete)} ` +
    `(${limit} entries); check the source ${o.sourceName}, then raise --max-delete (config: maxDelete) if that is intended`;
}
