import type { MirrorStateBody } from "../../../queue/index.js";
import type { StateRecord } from "../../../sync/index.js";

/** A state's records by path. */
export type StateEntries = Map<string, StateRecord>;

/** The records as the database row holds them: one JSON object, path → record (the state file's `entries`). */
export function encodeEntries(entries: ReadonlyMap<string, StateRecord>): MirrorStateBody {
  return { entries: JSON.stringify(Object.fromEntries(entries)), paths: entries.size };
}

/**
 * The records of a row's JSON, or undefined when it is not a JSON object (an edited or damaged
 * row). A record without a numeric size and a string stamp is left out: a missing record only
 * costs comparing that file again, a wrong one could skip a changed file.
 */
export function decodeEntries(json: string): StateEntries | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return undefined;
  const out: StateEntries = new Map();
  for (const [path, rec] of Object.entries(parsed as Record<string, unknown>)) {
    if (isRecord(rec)) out.set(path, rec);
  }
  return out;
}

function isRecord(v: unknown): v is StateRecord {
  if (typeof v !== "object" || v === null) return false;
  const r = v as Partial<StateRecord>;
  if (typeof r.size !== "number" || !Number.isSafeInteger(r.size) || r.size < 0 || typeof r.srcStamp !== "string") return false;
  return r.hash === undefined || (typeof r.hash === "object" && r.hash !== null && typeof r.hash.algorithm === "string" && typeof r.hash.value === "string");
}

/** Whether two records say the same (the same object, or equal fields). */
export function sameRecord(a: StateRecord | undefined, b: StateRecord | undefined): boolean {
  if (a === b) return true;
  if (!a || !b) return false;
  return a.size === b.size && a.srcStamp === b.srcStamp && a.hash?.algorithm === b.hash?.algorithm && a.hash?.value === b.hash?.value;
}

/**
 * Applies to `target` what changed from `before` to `after` (records set or changed, paths
 * forgotten) and nothing else: a saver's own changes, rebased onto what another saver wrote.
 * Where both changed one path, `after` wins (it is the newer observation).
 */
export function applyChanges(target: StateEntries, before: ReadonlyMap<string, StateRecord>, after: ReadonlyMap<string, StateRecord>): void {
  for (const [path, rec] of after) if (!sameRecord(before.get(path), rec)) target.set(path, rec);
  for (const path of before.keys()) if (!after.has(path)) target.delete(path);
}
