import { PathError, type VirtualPath } from "../FileSystem.js";
import { command, type CommandSpec } from "./types.js";

/** PWD's quoting: a '"' inside the path is doubled (RFC 959 appendix II). */
export function quotePath(path: string): string {
  return `"${path.replace(/"/g, '""')}"`;
}

async function changeDir(s: Parameters<CommandSpec["handler"]>[0], target: VirtualPath): Promise<void> {
  const st = await s.fs.stat(target);
  if (!st.isDirectory()) throw new PathError(`${target}: not a directory`);
  s.cwd = target;
  s.reply(250, `Directory changed to ${target}`);
}

const cwd: CommandSpec["handler"] = async (s, arg) => changeDir(s, s.resolve(arg));
const cdup: CommandSpec["handler"] = async (s) => changeDir(s, s.resolve(".."));
const pwd: CommandSpec["handler"] = async (s) => s.reply(257, `${quotePath(s.cwd)} is the current directory`);

/** Moving around: CWD CDUP PWD and their X-forms (RFC 775). */
export const NAVIGATION_COMMANDS: readonly CommandSpec[] = [
  command("CWD", "CWD <path>", cwd, { arg: "required", perm: "list" }),
  command("XCWD", "XCWD <path>", cwd, { arg: "required", perm: "list" }),
  command("CDUP", "CDUP", cdup, { arg: "forbidden", perm: "list" }),
  command("XCUP", "XCUP", cdup, { arg: "forbidden", perm: "list" }),
  command("PWD", "PWD", pwd, { arg: "forbidden" }),
  command("XPWD", "XPWD", pwd, { arg: "forbidden" }),
];
