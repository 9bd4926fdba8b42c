import type { Session } from "../Session.js";
import { command, type CommandSpec } from "./types.js";

/** FEAT lines of RFC 4217 section 6, offered only when the server has a certificate. */
export function securityFeatures(s: Session): string[] {
  return s.options.tls ? ["AUTH TLS", "PBSZ", "PROT"] : [];
}

/**
 * AUTH TLS (RFC 4217 section 4). "SSL" and "TLS-C" are accepted as old aliases (draft
 * RFCs and clients still send them); "TLS-P" also sets PROT P, as those drafts defined.
 * AUTH after login is refused: the password has already gone in clear, and upgrading
 * mid-session would give a false sense of protection.
 */
async function auth(s: Session, arg: string): Promise<void> {
  const mechanism = arg.trim().toUpperCase();
  const policy = s.options.tls;
  if (!policy) return s.reply(502, "AUTH not available: this server has no TLS certificate (ferry serve --tls-cert/--tls-key)");
  if (!["TLS", "TLS-C", "SSL", "TLS-P"].includes(mechanism)) return s.reply(504, `AUTH ${mechanism.slice(0, 20)} not supported: use AUTH TLS`);
  if (s.isSecure) return s.reply(503, "Already using TLS");
  if (s.principal) return s.reply(503, "AUTH must come before login: reconnect and send AUTH TLS first");
  await s.startTls(policy, `AUTH ${mechanism} ok, starting TLS`);
  // Nothing said in clear carries over: a USER sent before AUTH (perhaps injected by a man
  // in the middle) must be sent again under TLS.
  s.pendingUser = undefined;
  s.pbszDone = false;
  s.protection = "C";
  if (mechanism === "TLS-P") {
    s.pbszDone = true;
    s.protection = "P";
  }
}

/** PBSZ: TLS has no buffer size, so only 0 makes sense; any value is answered "PBSZ=0" (RFC 4217 section 8). */
async function pbsz(s: Session, arg: string): Promise<void> {
  if (!s.isSecure) return s.reply(503, "PBSZ needs a TLS control connection: send AUTH TLS first");
  if (!/^\d{1,10}$/.test(arg.trim())) return s.reply(501, "PBSZ needs a number: PBSZ 0");
  s.pbszDone = true;
  s.reply(200, "PBSZ=0");
}

/** PROT C or P (RFC 4217 section 9); S and E have no TLS meaning (536). */
async function prot(s: Session, arg: string): Promise<void> {
  if (!s.isSecure) return s.reply(503, "PROT needs a TLS control connection: send AUTH TLS first");
  if (!s.pbszDone) return s.reply(503, "PROT needs PBSZ first: send PBSZ 0");
  const level = arg.trim().toUpperCase();
  if (level === "P") {
    s.protection = "P";
    return s.reply(200, "Protection level set to P (data connections use TLS)");
  }
  if (level === "C") {
    const required = (s.options.tls?.requireData ?? false) || (s.principal?.requireTlsData ?? false);
    if (required) return s.reply(534, "PROT C refused: this server requires protected data connections (PROT P)");
    s.protection = "C";
    return s.reply(200, "Protection level set to C (data connections in clear)");
  }
  if (level === "S" || level === "E") return s.reply(536, `PROT ${level} not supported with TLS: use PROT P or PROT C`);
  s.reply(504, `PROT ${level.slice(0, 10)} unknown: use PROT P or PROT C`);
}

/** The TLS commands: AUTH PBSZ PROT CCC. */
export const SECURITY_COMMANDS: readonly CommandSpec[] = [
  command("AUTH", "AUTH TLS", auth, { auth: false, arg: "required" }),
  command("PBSZ", "PBSZ 0", pbsz, { auth: false, arg: "required" }),
  command("PROT", "PROT <P|C>", prot, { auth: false, arg: "required" }),
  // CCC (RFC 4217 section 12.3) would send every later command, the next USER/PASS
  // included, in clear after the client asked for protection; this server never does it.
  command("CCC", "CCC", async (s) => s.reply(533, "CCC refused: the control connection stays encrypted on this server"), { auth: false, arg: "forbidden" }),
];
