import type { OptionSpec, ProgramSpec } from "./commandSpec.js";

/** Text for roff: backslashes and hyphens escaped, no line starting with a control character. */
function roff(text: string): string {
  return text.replace(/\\/g, "\\e").replace(/-/g, "\\-").replace(/^([.'])/gm, "\\&$1");
}

function optionItem(o: OptionSpec): string {
  const flags = [o.short, o.long].filter((f): f is string => f !== undefined).map((f) => `\\fB${roff(f)}\\fR`).join(", ");
  const value = o.value !== undefined ? ` \\fI${roff(o.value)}\\fR` : "";
  return `.TP\n${flags}${value}\n${roff(o.description)}`;
}

/** Environment variables ferry reads (documented here; the options above name them where they apply). */
const ENVIRONMENT: readonly [string, string][] = [
  ["FERRY_LOG_LEVEL", "log level (trace, debug, info, warn, error); -v, -vv and -q override it"],
  ["FERRY_PASSWORD", "password for a URL that names a user but no password"],
  ["NETRC", "the .netrc file to read instead of ~/.netrc (a file others can read gets a warning)"],
  ["FERRY_CA", "PEM file of a CA to trust for ftps:// and ftpes:// (as --ca)"],
  ["FERRY_INSECURE", "1 or true: do not verify TLS certificates (as --insecure)"],
  ["FERRY_CONFIG", "the daemon config ferry status reads without --config"],
  ["FERRY_STATE_DIR", "where ferry mirror keeps its sync state"],
];

/** ferry(1) in roff (man(7) macros), from the same definitions as --help. */
export function manPage(spec: ProgramSpec, version: string): string {
  const n = spec.name;
  const out = [
    `.TH ${n.toUpperCase()} 1 "" "${n} ${version}" "User Commands"`,
    ".SH NAME",
    `${n} \\- ${roff(spec.description)}`,
    ".SH SYNOPSIS",
    `.B ${n}`,
    "[\\fIglobal options\\fR] \\fIcommand\\fR [\\fIoptions\\fR] [\\fIarguments\\fR]",
    ".SH DESCRIPTION",
    roff(`${spec.description}. Results go to stdout, logs and progress to stderr. ` +
      `With --json, commands that do work print one JSON document on stdout, failures included ` +
      `({"ok": false, "error", "errorClass", "exitCode"}). A file argument "-" means stdout for get and stdin for put.`),
    ".SH GLOBAL OPTIONS",
    ...spec.globalOptions.map(optionItem),
    ".SH COMMANDS",
  ];
  for (const c of spec.commands) {
    out.push(`.SS "${n} ${c.name} ${roff(c.usage).replace(/"/g, "")}"`, roff(c.description));
    if (c.arguments.length > 0) {
      out.push(".PP", "Arguments:");
      for (const a of c.arguments) out.push(`.TP\n\\fI${roff(a.name)}\\fR${a.required ? "" : " (optional)"}\n${roff(a.description)}`);
    }
    if (c.options.length > 0) {
      out.push(".PP", "Options:", ...c.options.map(optionItem));
    }
  }
  out.push(
    ".SH ENVIRONMENT",
    ...ENVIRONMENT.map(([k, v]) => `.TP\n.B ${k}\n${roff(v)}`),
    ".SH EXIT STATUS",
    ".TP\n.B 0\neverything asked for was done",
    ".TP\n.B 1\nsome of the work failed; the failures were printed",
    ".TP\n.B 2\nbad usage or an invalid config",
    ".TP\n.B 3\ncould not connect or log in",
    ".SH SEE ALSO",
    `\\fB${n} completion\\fR bash|zsh|fish writes shell completion; curl(1), lftp(1), rclone(1).`,
  );
  return `${out.join("\n")}\n`;
}
