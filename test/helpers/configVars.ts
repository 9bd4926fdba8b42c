import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { REPO_ROOT } from "./cli.js";

/** The "${VAR}" names a config file uses in its values (comments and "$${VAR}" literals left out). */
export function usedVariables(text: string): string[] {
  const values = text.split("\n").map((l) => l.replace(/(^|\s)#.*$/, "")).join("\n");
  return [...new Set([...values.matchAll(/(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g)].map((m) => m[1]!))];
}

/**
 * The variables of config/NAME that nobody explains: each must be named in a comment of the
 * file itself or in the README, so a reader knows what to set.
 */
export async function undocumentedVariables(name: string): Promise<string[]> {
  const text = await readFile(join(REPO_ROOT, "config", name), "utf8");
  const comments = text.split("\n").flatMap((l) => /(?:^|\s)#(.*)$/.exec(l)?.[1] ?? []).join("\n");
  const readme = await readFile(join(REPO_ROOT, "README.md"), "utf8");
  return usedVariables(text).filter((v) => !new RegExp(`\\b${v}\\b`).test(comments) && !new RegExp(`\\b${v}\\b`).test(readme));
}
