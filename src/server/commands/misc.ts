import { MLSX_FACTS, parseMlstOpts } from "../../protocol/index.js";
import type { Session } from "../Session.js";
import { hashFeature, optsHash } from "./hash.js";
import { securityFeatures } from "./security.js";
import { COMMANDS } from "./table.js";
import { command, type CommandSpec } from "./types.js";

/** FEAT lines (RFC 2389 section 3.2), from the command table plus UTF8, TVFS and the live HASH/MLST state. */
function featLines(s: Session): string[] {
  const lines = new Set<string>();
  for (const spec of COMMANDS.values()) {
    if (!spec.feat) continue;
    if (spec.verb === "MLST") lines.add(`MLST ${MLSX_FACTS.map((f) => f + (s.mlstFacts.includes(f) ? "*" : "")).join(";")};`);
    else lines.add(spec.feat);
  }
  lines.add(hashFeature(s));
  lines.add("UTF8");
  lines.add("TVFS");
  for (const l of securityFeatures(s)) lines.add(l);
  return [...lines].sort().map((l) => " " + l);
}

async function opts(s: Session, arg: string): Promise<void> {
  const sp = arg.indexOf(" ");
  const name = (sp < 0 ? arg : arg.slice(0, sp)).toUpperCase();
  const value = sp < 0 ? "" : arg.slice(sp + 1);
  switch (name) {
    case "UTF8":
    case "UTF-8":
      // Paths are always UTF-8 here (RFC 2640), so ON is a no-op and OFF is refused.
      return value.trim().toUpperCase() === "OFF" ? s.reply(504, "UTF8 cannot be switched off") : s.reply(200, "UTF8 mode always on");
    case "MLST":
      s.mlstFacts = parseMlstOpts(value);
      return s.reply(200, `MLST OPTS ${s.mlstFacts.map((f) => f + ";").join("")}`);
    case "HASH":
      return optsHash(s, value);
    default:
      return s.reply(501, `OPTS ${JSON.stringify(name.slice(0, 20))} not understood: UTF8, MLST or HASH`);
  }
}

async function help(s: Session, arg: string): Promise<void> {
  if (arg.trim() !== "") {
    const spec = COMMANDS.get(arg.trim().toUpperCase());
    return spec ? s.reply(214, `Syntax: ${spec.help}`) : s.reply(502, `Unknown command ${JSON.stringify(arg.trim().slice(0, 20))}`);
  }
  const verbs = [...COMMANDS.keys()].sort();
  const rows: string[] = [];
  for (let i = 0; i < verbs.length; i += 8) rows.push(" " + verbs.slice(i, i + 8).map((v) => v.padEnd(8)).join(" ").trimEnd());
  s.reply(214, ["The following commands are recognized:", ...rows, "Help OK"]);
}

/** Everything else: SYST NOOP FEAT OPTS HELP. */
export const MISC_COMMANDS: readonly CommandSpec[] = [
  command("SYST", "SYST", async (s) => s.reply(215, "UNIX Type: L8"), { auth: false }),
  command("NOOP", "NOOP", async (s) => s.reply(200, "NOOP ok"), { auth: false }),
  command("FEAT", "FEAT", async (s) => s.reply(211, ["Features:", ...featLines(s), "End"]), { auth: false, arg: "forbidden" }),
  command("OPTS", "OPTS <UTF8|MLST|HASH> [value]", opts, { auth: false, arg: "required" }),
  command("HELP", "HELP [command]", help, { auth: false }),
];
