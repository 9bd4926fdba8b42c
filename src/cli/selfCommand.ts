import { basename, isAbsolute, relative } from "node:path";

/** Quote a word for a POSIX shell when it needs it. */
function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/**
 * The command line that runs this same ferry with `args`, as a person can paste it into a shell
 * in the current folder: `ferry ARGS` when ferry was started through its `ferry` bin (npm link,
 * a global install), else `node [node options] PATH/TO/main.js ARGS` (after `npm install`, ferry
 * is not on the PATH; `npx ferry` would rebuild it into npx's cache first).
 */
export function selfCommand(args: readonly string[], proc: Pick<NodeJS.Process, "argv" | "execArgv" | "cwd"> = process): string {
  const script = proc.argv[1] ?? "ferry";
  if (basename(script) === "ferry") return ["ferry", ...args].map(shellWord).join(" ");
  const rel = isAbsolute(script) ? relative(proc.cwd(), script) : script;
  const path = rel.startsWith("..") || isAbsolute(rel) ? script : rel;
  return ["node", ...proc.execArgv, path, ...args].map(shellWord).join(" ");
}
