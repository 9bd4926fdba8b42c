import { ProtocolError } from "./errors.js";

/** A command line as received: the verb upper-cased, the argument verbatim (may be ""). */
export interface CommandLine {
  readonly verb: string;
  readonly arg: string;
}

/**
 * Split one command line (without its CRLF) into verb and argument (RFC 959 section 5.3).
 * The verb is case-insensitive; the argument keeps its spaces, since file names may start or
 * end with one. The Telnet IAC sequences some clients send before ABOR are dropped.
 */
export function parseCommandLine(line: string): CommandLine {
  const clean = line.replace(/\xff[\xf0-\xfe]/g, "").replace(/^\s+/, "");
  const sp = clean.indexOf(" ");
  if (sp < 0) return { verb: clean.toUpperCase(), arg: "" };
  return { verb: clean.slice(0, sp).toUpperCase(), arg: clean.slice(sp + 1) };
}

/**
 * Format a command for the wire. CR, LF and NUL are refused in both parts: a name holding
 * them would let a remote or local file name inject a second command (the CVE-2011-0411
 * class of bug, and RFC 959's Telnet line rules).
 */
export function formatCommand(verb: string, arg?: string): string {
  const line = arg === undefined || arg === "" ? verb : `${verb} ${arg}`;
  if (/[\r\n\0]/.test(line)) {
    throw new ProtocolError(`refusing to send a command containing CR, LF or NUL: ${JSON.stringify(mask(line))}`);
  }
  return `${line}\r\n`;
}

/** The command as it may appear in logs and errors: PASS and ACCT arguments masked. */
export function mask(line: string): string {
  return /^\s*(PASS|ACCT)\b/i.test(line) ? line.replace(/^(\s*\S+).*$/s, "$1 ****") : line;
}
