import type { z } from "zod";

/**
 * "Did you mean" for unknown config keys: the keys the schema accepts at the path,
 * read from the zod schema itself, and the closest one by edit distance.
 */

/** The parts of zod 4's internal definition this walk reads (stable across zod 4 releases). */
interface Def {
  type: string;
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  in?: z.ZodType;
  valueType?: z.ZodType;
  element?: z.ZodType;
  options?: readonly z.ZodType[];
  left?: z.ZodType;
  right?: z.ZodType;
  getter?: () => z.ZodType;
}

const defOf = (s: z.ZodType): Def => (s as unknown as { _zod: { def: Def } })._zod.def;

/** Peel wrappers (optional, default, pipe…) off a schema. */
function unwrap(schema: z.ZodType): z.ZodType {
  for (let s = schema, i = 0; i < 20; i++) {
    const d = defOf(s);
    const next = d.innerType ?? (d.type === "pipe" ? d.in : undefined) ?? (d.type === "lazy" ? d.getter?.() : undefined);
    if (!next) return s;
    s = next;
  }
  return schema;
}

/** The object schemas a value at this level may be (several for a union), best match first. */
function objectsOf(schema: z.ZodType, value: unknown): z.ZodType[] {
  const s = unwrap(schema);
  const d = defOf(s);
  if (d.type === "object") return [s];
  if (d.type === "intersection" && d.left && d.right) return [...objectsOf(d.left, value), ...objectsOf(d.right, value)];
  if (d.type !== "union" || !d.options) return [];
  const all = d.options.flatMap((o) => objectsOf(o, value));
  // A discriminated value (kind: mirror) picks the option whose literal field accepts it.
  const fits = all.filter((o) => Object.entries(defOf(o).shape ?? {}).some(([k, f]) =>
    defOf(unwrap(f)).type === "literal" && value !== null && typeof value === "object" && k in value && f.safeParse((value as Record<string, unknown>)[k]).success));
  return fits.length > 0 ? fits : all;
}

/** The keys accepted at `path` of `input` under `schema`; empty when the path leaves the schema. */
export function knownKeysAt(schema: z.ZodType, path: readonly PropertyKey[], input: unknown): string[] {
  let current: z.ZodType[] = [schema];
  let value = input;
  for (const seg of path) {
    const next: z.ZodType[] = [];
    for (const s of current) {
      const d = defOf(unwrap(s));
      if (d.type === "array" && d.element && typeof seg === "number") next.push(d.element);
      else if (d.type === "record" && d.valueType) next.push(d.valueType);
      else for (const o of objectsOf(s, value)) { const f = defOf(o).shape?.[String(seg)]; if (f) next.push(f); }
    }
    current = next;
    value = value !== null && typeof value === "object" ? (value as Record<PropertyKey, unknown>)[seg as string] : undefined;
  }
  return [...new Set(current.flatMap((s) => objectsOf(s, value)).flatMap((o) => Object.keys(defOf(o).shape ?? {})))];
}

/** Levenshtein distance, case-insensitive. */
function distance(a: string, b: string): number {
  a = a.toLowerCase(); b = b.toLowerCase();
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length]!;
}

/** The known key closest to `key`, when close enough to be a typo (or a different case/separator). */
export function closestKey(key: string, known: readonly string[]): string | undefined {
  const squash = (s: string) => s.toLowerCase().replace(/[-_]/g, "");
  const exactish = known.find((k) => squash(k) === squash(key));
  if (exactish) return exactish;
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = distance(key, k);
    if (d < bestD) { best = k; bestD = d; }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(key.length / 3)) ? best : undefined;
}
