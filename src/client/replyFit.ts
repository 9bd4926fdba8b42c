import type { Reply } from "../protocol/index.js";

// Which replies fit a command waiting in a pipelined queue (STYLE guideline 1). With several
// commands in flight, a reply is matched to the oldest one (RFC 959 section 5.3: a server
// reads and answers commands in order); a server that answers out of order or drops a queued
// command shows up as a reply that cannot belong to the command it is matched with. Refusals
// (4xx, 5xx) fit any command; success codes and preliminary replies must be ones the command
// can get, else the connection is out of step and the server goes back to lockstep.

/** Verbs that open a data transfer: 1xx first, then 226 or 250. */
const TRANSFER_VERBS = new Set(["STOR", "STOU", "APPE", "RETR", "LIST", "NLST", "MLSD"]);

/** The success replies (2xx/3xx) each verb may get; a verb not listed accepts any. */
const SUCCESS_CODES: Readonly<Record<string, readonly number[]>> = {
  EPSV: [229],
  PASV: [227],
  SIZE: [213],
  MDTM: [213, 200, 250, 253],
  MFMT: [213, 200, 250],
  HASH: [213],
  XSHA256: [213, 250],
  XSHA1: [213, 250],
  XSHA: [213, 250],
  XMD5: [213, 250],
  XCRC: [213, 250],
  RNFR: [350],
  RNTO: [250, 200],
  DELE: [250, 200],
  TYPE: [200],
  NOOP: [200],
  PWD: [257],
  CWD: [250, 200],
  MKD: [257, 250],
  RMD: [250, 200],
  OPTS: [200],
  REST: [350],
};

/**
 * Why `reply` cannot answer `verb` (a command waiting in a pipelined queue), or undefined
 * when it fits. A 1xx fits only a transfer; a transfer's final reply must be 226 or 250.
 */
export function misfit(verb: string, reply: Reply): string | undefined {
  const v = verb.toUpperCase();
  const code = reply.code;
  if (code >= 400) return undefined;
  if (TRANSFER_VERBS.has(v)) {
    if (code < 200 || code === 226 || code === 250) return undefined;
    return `${code} cannot answer ${v} (expected 1xx, then 226 or 250)`;
  }
  if (code < 200) return `a preliminary ${code} cannot answer ${v}, which opens no transfer`;
  const allowed = SUCCESS_CODES[v];
  if (allowed && !allowed.includes(code)) return `${code} cannot answer ${v} (expected ${allowed.join(" or ")})`;
  return undefined;
}
