import { causeChain, FtpReplyError } from "../protocol/index.js";

// What servers say when they refuse a session because too many are open (from their sources
// and manuals):
//   vsftpd    421 There are too many connected users, please try later.
//   vsftpd    421 There are too many connections from your internet address.
//   proftpd   530 Sorry, the maximum number of clients (2) from your host are already connected.
//   proftpd   530 Sorry, the maximum number of allowed clients (10) are already connected.
//   pure-ftpd 421 10 users (the maximum) are already logged in, sorry
//   glftpd    530 Sorry, your account is restricted to 3 simultaneous logins.
//   IIS       421 Too many users are connected. Please try again later.
//   ferry     421 Too many connections from your address (limit 2), try later
// A wrong password reads "530 Login incorrect.", "530 Not logged in, user or password
// incorrect!", "530 Permission denied": none of these words.
const TOO_MANY = new RegExp([
  "too many",
  "maximum number",
  "\\(the maximum\\)",
  "simultaneous (logins|connections|sessions|users)",
  "no more (connections|clients|users|sessions|logins)",
  "(connection|session|login|user|client)s? limit",
  "limit (has been |is )?(reached|exceeded)",
  "are already (connected|logged in)",
].join("|"), "i");

/** The commands (as FtpReplyError.command names them) of opening a session. */
const LOGIN_PHASE = /^(greeting|USER|PASS|ACCT)\b/;

/** Whether a reply's text says the server has too many connections, users or sessions. */
export function saysTooManyConnections(text: string): boolean {
  return TOO_MANY.test(text);
}

/**
 * The reply in `err` (or its causes) that refused a new session for want of room: any 421 on
 * opening a connection (RFC 959: service not available; vsftpd and pure-ftpd use it for their
 * connection limits), or a 530 (or other 4xx/5xx) to the greeting or login whose text says
 * too many connections, users or sessions (proftpd's MaxClients). A 530 without such words is
 * a refused login, not this: retrying a wrong password only locks the account (FAULTS C6,
 * I15). Later replies are not read this way ("452 Too many files" is about the folder).
 */
export function connectionLimitReply(err: unknown): FtpReplyError | undefined {
  for (const e of causeChain(err)) {
    if (!(e instanceof FtpReplyError)) continue;
    if (e.code === 421) return e;
    if (e.code >= 400 && e.code < 600 && LOGIN_PHASE.test(e.command) && saysTooManyConnections(e.message)) return e;
  }
  return undefined;
}

/** Whether `err` says the server refused a new session because it has too many (see connectionLimitReply). */
export function isConnectionLimit(err: unknown): boolean {
  return connectionLimitReply(err) !== undefined;
}
