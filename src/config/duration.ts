import { z } from "zod";

/** Milliseconds of a duration: a number of ms, or text such as "500ms", "2s", "10m", "1h", "7d". */
export function parseDuration(value: number | string): number | undefined {
  if (typeof value === "number") return Number.isFinite(value) && value >= 0 ? Math.round(value) : undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/.exec(value);
  if (!m) return undefined;
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as "ms" | "s" | "m" | "h" | "d"];
  return Math.round(Number(m[1]) * unit);
}

/** A duration field: a number of ms or "2s"-style text, validated to [min, max] ms, output in ms. */
export const duration = (what: string, dflt: string, min = 0, max = 366 * 86_400_000) =>
  z.union([z.number(), z.string()]).default(dflt).transform((v, ctx) => {
    const ms = parseDuration(v);
    if (ms === undefined) {
      ctx.addIssue({ code: "custom", message: `expected a duration such as "500ms", "2s", "10m", "1h", "7d" (or a number of ms), not ${JSON.stringify(v)}` });
      return z.NEVER;
    }
    if (ms < min || ms > max) {
      ctx.addIssue({ code: "custom", message: `must be between ${min} ms and ${max} ms, not ${ms} ms` });
      return z.NEVER;
    }
    return ms;
  }).describe(`${what}; a duration such as "2s" or a number of ms; default ${dflt}`);

