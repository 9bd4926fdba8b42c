import { readFileSync } from "node:fs";
import { join } from "node:path";

/** One instruction of a Dockerfile: the keyword and its arguments, continuation lines joined. */
export interface Instruction {
  readonly keyword: string;
  readonly args: string;
  /** Index of the build stage it belongs to (0 for the first FROM). */
  readonly stage: number;
}

/** Parse a Dockerfile into instructions (comments dropped, `\` continuations joined). */
export function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let stage = -1;
  let pending = "";
  for (const raw of text.split("\n")) {
    const line = raw.trimEnd();
    if (pending === "" && (line.trim() === "" || line.trimStart().startsWith("#"))) continue;
    if (line.endsWith("\\")) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    const full = (pending + line).trim();
    pending = "";
    const m = /^(\w+)\s+(.*)$/s.exec(full);
    if (!m) throw new Error(`Dockerfile: cannot read ${JSON.stringify(full)}`);
    const keyword = m[1]!.toUpperCase();
    if (keyword === "FROM") stage++;
    out.push({ keyword, args: m[2]!.trim(), stage });
  }
  return out;
}

/** The arguments of an exec-form (JSON array) instruction such as CMD ["a", "b"]. */
export function execForm(args: string): string[] {
  const json = args.replace(/^--\S+\s+/g, "");
  const parsed = JSON.parse(json) as unknown;
  if (!Array.isArray(parsed) || !parsed.every((a) => typeof a === "string")) throw new Error(`not an exec-form array: ${args}`);
  return parsed as string[];
}

/** COPY [--from=STAGE] SRC... DEST, split. */
export function copyArgs(args: string): { from?: string; sources: string[]; dest: string } {
  const words = args.split(/\s+/);
  let from: string | undefined;
  while (words[0]?.startsWith("--")) {
    const flag = words.shift()!;
    if (flag.startsWith("--from=")) from = flag.slice("--from=".length);
  }
  const dest = words.pop()!;
  return { ...(from !== undefined ? { from } : {}), sources: words, dest };
}

export function readDockerfile(root: string): Instruction[] {
  return parseDockerfile(readFileSync(join(root, "Dockerfile"), "utf8"));
}
