import { formatTimeVal, parseTimeVal } from "../../protocol/index.js";
import { PathError, ROOT_PATH } from "../FileSystem.js";
import { ReplyError } from "../errors.js";
import type { Session } from "../Session.js";
import { quotePath } from "./navigation.js";
import { command, type CommandSpec } from "./types.js";

const mkd = async (s: Session, arg: string): Promise<void> => {
  const target = s.resolve(arg);
  await s.fs.mkdir(target);
  s.reply(257, `${quotePath(target)} created`);
};

const rmd = async (s: Session, arg: string): Promise<void> => {
  const target = s.resolve(arg);
  if (target === "/" || s.cwd === target || s.cwd.startsWith(target + "/")) throw new PathError("cannot remove the current directory or one above it");
  await s.fs.rmdir(target);
  s.reply(250, `Directory ${target} removed`);
};

/** Seconds-precision time-val of a file, as MDTM reports it (RFC 3659 section 3). */
function mdtmOf(mtime: Date): string {
  return formatTimeVal(new Date(Math.floor(mtime.getTime() / 1000) * 1000));
}

async function setMtime(s: Session, time: string, pathArg: string, reply: (path: string, mtime: Date) => string, code: number): Promise<void> {
  if (!s.can("mtime")) throw new ReplyError(550, `Permission denied: ${s.principal?.name} may not change modification times`);
  const mtime = parseTimeVal(time);
  const target = s.resolve(pathArg);
  await s.fs.setMtime(target, mtime);
  s.reply(code, reply(target, mtime));
}

const SITE_HELP = ["SITE commands:", " CHMOD <octal mode> <path>", " HELP", "End"];

async function site(s: Session, arg: string): Promise<void> {
  const [sub = "", ...rest] = arg.split(" ");
  switch (sub.toUpperCase()) {
    case "HELP":
      return s.reply(214, SITE_HELP);
    case "CHMOD": {
      const modeText = rest[0] ?? "";
      const path = rest.slice(1).join(" ");
      if (!/^[0-7]{1,4}$/.test(modeText) || path === "") return s.reply(501, "Syntax: SITE CHMOD <octal mode> <path>");
      if (!s.can("chmod")) return s.reply(550, `Permission denied: ${s.principal?.name} may not chmod`);
      const target = s.resolve(path);
      // The user's root is the server's to set, not the user's (issue 12 #8).
      if (target === ROOT_PATH || (await s.fs.existing(target)) === (await s.fs.existing(ROOT_PATH))) { // also through a link to it
        return s.reply(550, "SITE CHMOD refused on your root directory");
      }
      // Permission bits only, as vsftpd does: setuid, setgid and sticky are silently dropped.
      const mode = parseInt(modeText, 8) & 0o777;
      await s.fs.chmod(target, mode);
      return s.reply(200, `SITE CHMOD ${mode.toString(8).padStart(3, "0")} ${target} done${mode === parseInt(modeText, 8) ? "" : " (setuid, setgid and sticky bits are never set)"}`);
    }
    default:
      return s.reply(504, `Unknown SITE command ${JSON.stringify(sub.slice(0, 20))}: try SITE HELP`);
  }
}

/** Files and directories: MKD RMD DELE RNFR RNTO SIZE MDTM MFMT SITE ALLO. */
export const FILE_COMMANDS: readonly CommandSpec[] = [
  command("MKD", "MKD <path>", mkd, { arg: "required", perm: "mkdir" }),
  command("XMKD", "XMKD <path>", mkd, { arg: "required", perm: "mkdir" }),
  command("RMD", "RMD <path>", rmd, { arg: "required", perm: "rmdir" }),
  command("XRMD", "XRMD <path>", rmd, { arg: "required", perm: "rmdir" }),
  command("DELE", "DELE <path>", async (s, arg) => {
    const target = s.resolve(arg);
    await s.fs.unlink(target);
    s.reply(250, `File ${target} deleted`);
  }, { arg: "required", perm: "delete" }),
  command("RNFR", "RNFR <path>", async (s, arg) => {
    const target = s.resolve(arg);
    await s.fs.entry(target);
    if (!(await s.fs.exists(target))) throw new PathError(`${target}: No such file or directory`);
    s.renameFrom = target;
    s.reply(350, "Ready for RNTO");
  }, { arg: "required", perm: "rename" }),
  command("RNTO", "RNTO <path>", async (s, arg) => {
    const from = s.renameFrom;
    s.renameFrom = undefined;
    if (!from) return s.reply(503, "Send RNFR first");
    const to = s.resolve(arg);
    await s.fs.rename(from, to);
    s.reply(250, `Renamed ${from} to ${to}`);
  }, { arg: "required", perm: "rename" }),
  command("SIZE", "SIZE <path>", async (s, arg) => {
    const st = await s.fs.stat(s.resolve(arg));
    if (!st.isFile()) throw new PathError(`${arg}: not a plain file`);
    s.reply(213, String(st.size));
  }, { arg: "required", perm: "read", feat: "SIZE" }),
  command("MDTM", "MDTM [YYYYMMDDHHMMSS] <path>", async (s, arg) => {
    // vsftpd's two-argument form sets the time; it applies only when the whole argument is
    // not itself the name of an existing file.
    const two = /^(\d{14}(?:\.\d{1,9})?) (.+)$/.exec(arg);
    if (two && !(await s.fs.exists(s.resolve(arg)))) {
      return setMtime(s, two[1]!, two[2]!, () => "File modification time set", 213);
    }
    const st = await s.fs.stat(s.resolve(arg));
    if (!st.isFile()) throw new PathError(`${arg}: not a plain file`);
    s.reply(213, mdtmOf(st.mtime));
  }, { arg: "required", perm: "read", feat: "MDTM" }),
  command("MFMT", "MFMT <YYYYMMDDHHMMSS> <path>", async (s, arg) => {
    const m = /^(\S+) (.+)$/.exec(arg);
    if (!m) return s.reply(501, "Syntax: MFMT YYYYMMDDHHMMSS <path>");
    return setMtime(s, m[1]!, m[2]!, (path, mtime) => `Modify=${mdtmOf(mtime)}; ${path}`, 213);
  }, { arg: "required", perm: "mtime", feat: "MFMT" }),
  command("SITE", "SITE <CHMOD|HELP> ...", site, { arg: "required" }),
  command("ALLO", "ALLO <bytes>", async (s) => s.reply(202, "No storage allocation necessary")),
];
