import { connect, createServer, type Socket } from "node:net";
import { posix } from "node:path";

// The "server that allows N connections in all" of the fleet tests and bench, and the thing
// that counts its sessions: a loopback relay for FTP control connections placed in front of
// ferry's server. Every client (node) connects here; each accepted connection is relayed to
// the server unchanged, one beyond the cap gets the 421 a full server sends. In one place it
// sees what the server's own counters cannot tell a test:
//   - the sessions open at once, counted from the client's connect to its first sign of
//     leaving (either side's FIN, a reset or close), so a peak above the cap cannot hide between two polls;
//   - each command and the final reply it got, matched in order (RFC 959: replies come in
//     command order, so this holds for a pipelining client too): which paths were stored and
//     published under their final name, and on which session;
//   - the client's source port of each session, to tell which node a session belongs to
//     (fleetHarness.ts maps a node's process to its sockets through /proc).
// Data connections are not relayed: PASV/EPSV replies pass unchanged and point at the server.

/** One command sent on a session, with the final reply code it got (undefined: none came). */
export interface Exchange {
  readonly command: string;
  reply: number | undefined;
}

/** One control connection through the counter. */
export interface CountedSession {
  readonly id: number;
  /** The client's source port (its local port), to attribute the session to a process. */
  readonly clientPort: number;
  readonly openedAt: number;
  /** When the client left (first FIN, reset or close), undefined while open. */
  closedAt: number | undefined;
  /** Turned away with 421 because `maxSessions` were open. */
  readonly refused: boolean;
  readonly exchanges: Exchange[];
}

/** Options of startSessionCounter. */
export interface SessionCounterOptions {
  /** The FTP server's control port. */
  readonly targetPort: number;
  /** Default 127.0.0.1. */
  readonly targetHost?: string;
  /** Sessions allowed at once; one more is refused with 421 (as vsftpd's max_clients). Default: no cap. */
  readonly maxSessions?: number;
}

/** A running counter. */
export interface SessionCounter {
  /** The port clients connect to (127.0.0.1). */
  readonly port: number;
  /** Every session so far, refused ones included, in order of arrival. */
  readonly sessions: readonly CountedSession[];
  /** Sessions open now. */
  readonly open: number;
  /** The most sessions open at once since the start or the last resetPeak(). */
  readonly peak: number;
  /** Connections refused for the cap since the start or the last resetPeak(). */
  readonly refusals: number;
  /** Stores and publishes per final path over every session, kept up to date as replies arrive (as countPaths computes). */
  readonly counts: ReadonlyMap<string, PathCounts>;
  /** Final paths under `folder` (e.g. "/mirror") published at least once. */
  publishedUnder(folder: string): number;
  /** Start a new measurement window: the peak becomes the sessions open now, refusals 0. */
  resetPeak(): void;
  /** Stops listening and cuts every relayed connection. */
  close(): Promise<void>;
}

/** Start a counter on 127.0.0.1 (a free port) in front of `targetPort`. */
export async function startSessionCounter(options: SessionCounterOptions): Promise<SessionCounter> {
  const host = options.targetHost ?? "127.0.0.1";
  const cap = options.maxSessions ?? Number.POSITIVE_INFINITY;
  const sessions: CountedSession[] = [];
  const sockets = new Set<Socket>();
  const state = { open: 0, peak: 0, refusals: 0 };
  const counts = new Map<string, PathCounts>();
  const track = (s: Socket): Socket => {
    sockets.add(s);
    s.setNoDelay(true);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => undefined); // the other side learns of it through its own close
    return s;
  };

  const server = createServer({ allowHalfOpen: true }, (client) => {
    track(client);
    const base = { id: sessions.length + 1, clientPort: client.remotePort ?? 0, openedAt: Date.now(), exchanges: [] as Exchange[] };
    if (state.open >= cap) {
      state.refusals++;
      sessions.push({ ...base, closedAt: Date.now(), refused: true });
      client.end(`421 Too many connections (${cap} in all), try again later\r\n`);
      return;
    }
    const session: CountedSession = { ...base, closedAt: undefined, refused: false };
    sessions.push(session);
    state.peak = Math.max(state.peak, ++state.open);
    const leave = (): void => {
      if (session.closedAt !== undefined) return;
      session.closedAt = Date.now();
      state.open--;
    };
    client.once("end", leave);
    client.once("close", leave);
    const upstream = track(connect({ port: options.targetPort, host, allowHalfOpen: true }));
    // The server ending the session (after its 221) also ends it here: the server no longer
    // counts it, and the client, which waits for that end before giving its fleet slot back, may
    // have the slot reused before this relay has read the client's own FIN.
    upstream.once("end", leave);
    relayCommands(client, upstream, session.exchanges);
    const tally = pathTally(counts);
    relayReplies(upstream, client, session.exchanges, tally);
    // When the client goes, the server still gets to send what it had answered (a 250 for an
    // RNTO sent just before a SIGKILL is a publish the test must see): end, do not destroy.
    client.once("close", () => upstream.end());
    upstream.once("close", () => client.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  return {
    port: (server.address() as { port: number }).port,
    sessions,
    get open() { return state.open; },
    get peak() { return state.peak; },
    get refusals() { return state.refusals; },
    counts,
    publishedUnder(folder) {
      let n = 0;
      for (const [p, c] of counts) if (c.publishes > 0 && p.startsWith(`${folder}/`)) n++;
      return n;
    },
    resetPeak() {
      state.peak = state.open;
      state.refusals = 0;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

/** Client → server: forward as is, and note each command line as an exchange awaiting its reply. */
function relayCommands(client: Socket, upstream: Socket, exchanges: Exchange[]): void {
  let text = "";
  client.on("data", (chunk: Buffer) => {
    text += chunk.toString("latin1");
    for (let i; (i = text.indexOf("\n")) >= 0; text = text.slice(i + 1)) {
      exchanges.push({ command: text.slice(0, i).replace(/\r$/, ""), reply: undefined });
    }
    if (!upstream.destroyed) upstream.write(chunk);
  });
  client.on("end", () => upstream.end());
}

/** Server → client: forward as is, and give each final reply (2xx–5xx, last line) to the oldest unanswered command. */
function relayReplies(upstream: Socket, client: Socket, exchanges: Exchange[], onAnswered: (e: Exchange) => void): void {
  let text = "";
  let next = 0;
  let greeted = false;
  upstream.on("data", (chunk: Buffer) => {
    text += chunk.toString("latin1");
    for (let i; (i = text.indexOf("\n")) >= 0; text = text.slice(i + 1)) {
      const final = /^([2-5]\d\d) /.exec(text.slice(0, i));
      if (!final) continue; // a 1xx, or a line inside a multi-line reply
      // The first final reply is the greeting, which answers no command (even if one was sent early).
      if (!greeted) greeted = true;
      else if (next < exchanges.length) {
        const answered = exchanges[next++]!;
        answered.reply = Number(final[1]);
        onAnswered(answered);
      }
    }
    if (!client.destroyed) client.write(chunk);
  });
  upstream.on("end", () => client.end());
}

/** Per final path: how often its bytes were stored (a 226 to it or to its partial) and published under the final name. */
export interface PathCounts {
  stores: number;
  publishes: number;
}

/** ferry's partial of `/dir/NAME` is `/dir/.NAME.ferry-part` (src/sync/paths.ts); other names are final. */
export function finalPathOf(path: string): string {
  const i = path.lastIndexOf("/");
  const m = /^\.(.+)\.ferry-part$/.exec(path.slice(i + 1));
  return m ? `${path.slice(0, i + 1)}${m[1]}` : path;
}

/**
 * Stores and publishes per final path over `sessions`: a STOR/APPE answered 226 stores the
 * path it names (a partial counts for its final name), and publishes it when that is the final
 * name; an RNTO answered 250 publishes its target. Paths are made absolute against the
 * session's working folder (CWD answered 250).
 */
export function countPaths(sessions: readonly CountedSession[]): Map<string, PathCounts> {
  const counts = new Map<string, PathCounts>();
  for (const s of sessions) {
    const tally = pathTally(counts);
    for (const e of s.exchanges) tally(e);
  }
  return counts;
}

/** Adds one session's answered exchanges, in order, to `counts` (the session's working folder is its own). */
function pathTally(counts: Map<string, PathCounts>): (e: Exchange) => void {
  let cwd = "/";
  const of = (p: string): PathCounts => {
    let c = counts.get(p);
    if (!c) counts.set(p, (c = { stores: 0, publishes: 0 }));
    return c;
  };
  return ({ command, reply }) => {
    const m = /^(\S+)(?: (.*))?$/.exec(command);
    const verb = m?.[1]?.toUpperCase() ?? "";
    const arg = m?.[2] ?? "";
    if (verb === "CWD" && reply === 250) cwd = absolute(cwd, arg);
    else if ((verb === "STOR" || verb === "APPE") && reply === 226) {
      const path = absolute(cwd, arg);
      const c = of(finalPathOf(path));
      c.stores++;
      if (finalPathOf(path) === path) c.publishes++;
    } else if (verb === "RNTO" && reply === 250) of(absolute(cwd, arg)).publishes++;
  };
}

/** The final paths a session named in a transfer or rename command (whatever the reply). */
export function pathsNamed(session: CountedSession): Set<string> {
  const out = new Set<string>();
  let cwd = "/";
  for (const { command, reply } of session.exchanges) {
    const m = /^(\S+)(?: (.*))?$/.exec(command);
    const verb = m?.[1]?.toUpperCase() ?? "";
    const arg = m?.[2] ?? "";
    if (verb === "CWD" && reply === 250) cwd = absolute(cwd, arg);
    else if (["STOR", "APPE", "RNFR", "RNTO"].includes(verb)) out.add(finalPathOf(absolute(cwd, arg)));
  }
  return out;
}

function absolute(cwd: string, arg: string): string {
  return posix.resolve(cwd, arg);
}
