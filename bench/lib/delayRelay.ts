// A loopback relay that stands in for a distant FTP server in the benchmarks (no netem on
// these machines): control connections and, through rewritten PASV/EPSV replies, data
// connections too pass through it. Every chunk is held `delayMs` in each direction, in
// order, and an optional rate cap makes each direction a shared link of that many bytes/s.
// Counters tell what a client did: commands, listings, data connections, bytes, and the
// most control connections open at once.
import { createServer, connect, type Server, type Socket } from "node:net";

export interface DelayRelayOptions {
  /** One-way delay added to every chunk, ms (default 20: a 40 ms round trip). */
  readonly delayMs?: number;
  /** Bytes per second per direction, shared by all connections (default: no cap). */
  readonly rateBytesPerSec?: number;
  /**
   * Bytes a connection may have in flight through the relay per direction before it stops
   * reading its source (default 4 MiB): bounds the relay's memory and plays the part of a
   * TCP window on a long link.
   */
  readonly windowBytes?: number;
  /** Upstream host (default 127.0.0.1). */
  readonly host?: string;
}

export interface RelayStats {
  /** Command lines the clients sent on control connections. */
  commands: number;
  /** Commands by verb (upper case): STOR, RETR, LIST, EPSV … */
  verbs: Record<string, number>;
  /** Listing commands (LIST, NLST, MLSD, and STAT with an argument). */
  listings: number;
  /** The most listings waiting for their final reply at once. */
  maxListings: number;
  dataConnections: number;
  controlConnections: number;
  /** The most control connections open at once. */
  peakControl: number;
  /** Bytes client → server and server → client, control and data together. */
  bytesUp: number;
  bytesDown: number;
  /** Of which on data connections. */
  dataBytesUp: number;
  dataBytesDown: number;
}

export interface DelayRelay {
  readonly port: number;
  readonly delayMs: number;
  readonly stats: RelayStats;
  /** Zero the counters (open connections stay counted as open). */
  reset(): void;
  close(): Promise<void>;
}

function emptyStats(): RelayStats {
  return {
    commands: 0, verbs: {}, listings: 0, maxListings: 0, dataConnections: 0, controlConnections: 0, peakControl: 0,
    bytesUp: 0, bytesDown: 0, dataBytesUp: 0, dataBytesDown: 0,
  };
}

/** A direction of the emulated link: when its wire is next free (for the rate cap). */
interface Wire { nextFree: number }

type Item = { due: number; data: Buffer } | { due: number; end: "end" | "destroy" };

/**
 * Forward `from` to `to`, each chunk delivered `delay` ms after it arrived (later if the
 * rate cap makes it wait for the wire), strictly in order: one timer per direction drains a
 * queue, so chunks cannot overtake each other as independent timers of different lengths
 * could. `rewrite` may change a chunk (control replies); it runs in order too.
 */
function pipeDelayed(
  from: Socket, to: Socket, delay: number, wire: Wire, rate: number | undefined, windowBytes: number,
  count: (n: number) => void, rewrite?: (chunk: Buffer) => Buffer | Promise<Buffer>,
): void {
  const queue: Item[] = [];
  let queued = 0;
  let timer: NodeJS.Timeout | undefined;
  let paused = false;
  let finished = false;
  let chain: Promise<void> = Promise.resolve();
  const flush = (): void => {
    timer = undefined;
    const now = performance.now();
    while (queue.length > 0 && queue[0]!.due <= now + 0.5) {
      const item = queue.shift()!;
      if ("data" in item) {
        queued -= item.data.length;
        if (!to.destroyed) to.write(item.data);
      } else if (item.end === "end") {
        if (!to.destroyed) to.end();
      } else if (!to.destroyed) {
        // The source went away without a clean end: pass that on once written bytes are out.
        if (to.writableLength === 0) to.destroy();
        else to.once("drain", () => to.destroy());
      }
    }
    resumeIfRoom();
    if (queue.length > 0) timer = setTimeout(flush, Math.max(0, queue[0]!.due - performance.now()));
  };
  const push = (item: Item): void => {
    queue.push(item);
    if (!timer) timer = setTimeout(flush, Math.max(0, queue[0]!.due - performance.now()));
  };
  const resumeIfRoom = (): void => {
    if (paused && queued + to.writableLength < windowBytes / 2) {
      paused = false;
      from.resume();
    }
  };
  to.on("drain", resumeIfRoom);
  from.on("data", (chunk: Buffer) => {
    const arrived = performance.now();
    count(chunk.length);
    queued += chunk.length;
    if (!paused && queued + to.writableLength >= windowBytes) {
      paused = true;
      from.pause();
    }
    chain = chain.then(async () => {
      const out = rewrite ? await rewrite(chunk) : chunk;
      queued += out.length - chunk.length;
      let sent = arrived;
      if (rate) {
        sent = Math.max(arrived, wire.nextFree) + (out.length / rate) * 1000;
        wire.nextFree = sent;
      }
      push({ due: sent + delay, data: out });
    });
  });
  const finish = (how: "end" | "destroy"): void => {
    if (finished) return;
    finished = true;
    chain = chain.then(() => push({ due: Math.max(performance.now() + delay, queue.at(-1)?.due ?? 0), end: how }));
  };
  from.on("end", () => finish("end"));
  from.on("close", () => finish("destroy"));
}

const LISTING = /^(LIST|NLST|MLSD)\b|^STAT\s+\S/i;

/** Start a relay on 127.0.0.1 (a free port) in front of `targetPort`. */
export async function startDelayRelay(targetPort: number, options: DelayRelayOptions = {}): Promise<DelayRelay> {
  const delay = options.delayMs ?? 20;
  const rate = options.rateBytesPerSec;
  const windowBytes = options.windowBytes ?? 4 << 20;
  const host = options.host ?? "127.0.0.1";
  const up: Wire = { nextFree: 0 };
  const down: Wire = { nextFree: 0 };
  const sockets = new Set<Socket>();
  const servers = new Set<Server>();
  let stats = emptyStats();
  let openControl = 0;
  /** Listings sent and not yet answered with a final reply, across all control connections. */
  let listingsInFlight = 0;
  const track = (s: Socket): Socket => {
    sockets.add(s);
    s.setNoDelay(true);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => undefined); // the other side's close or destroy tells the peer
    return s;
  };

  /** A one-shot listener for the data connection a PASV/EPSV reply announced. */
  const relayData = (port: number): Promise<number> => new Promise((resolve, reject) => {
    const srv = createServer({ allowHalfOpen: true }, (client) => {
      srv.close();
      servers.delete(srv);
      stats.dataConnections++;
      const upstream = track(connect({ port, host, allowHalfOpen: true }));
      track(client);
      pipeDelayed(client, upstream, delay, up, rate, windowBytes, (n) => { stats.bytesUp += n; stats.dataBytesUp += n; });
      pipeDelayed(upstream, client, delay, down, rate, windowBytes, (n) => { stats.bytesDown += n; stats.dataBytesDown += n; });
    });
    servers.add(srv);
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => resolve((srv.address() as { port: number }).port));
  });

  const control = createServer({ allowHalfOpen: true }, (client) => {
    track(client);
    stats.controlConnections++;
    stats.peakControl = Math.max(stats.peakControl, ++openControl);
    client.once("close", () => openControl--);
    const upstream = track(connect({ port: targetPort, host, allowHalfOpen: true }));
    // Commands sent and not yet answered with a final reply, in order (true: a listing):
    // each command gets one final reply, so they match even when a client pipelines.
    const awaiting: boolean[] = [];
    let pendingListings = 0;
    let upText = "";
    pipeDelayed(client, upstream, delay, up, rate, windowBytes, (n) => { stats.bytesUp += n; }, (chunk) => {
      upText += chunk.toString("latin1");
      for (let i; (i = upText.indexOf("\n")) >= 0; upText = upText.slice(i + 1)) {
        const line = upText.slice(0, i).trim();
        stats.commands++;
        const verb = /^\S+/.exec(line)?.[0].toUpperCase() ?? "";
        stats.verbs[verb] = (stats.verbs[verb] ?? 0) + 1;
        const listing = LISTING.test(line);
        awaiting.push(listing);
        if (listing) {
          stats.listings++;
          pendingListings++;
          stats.maxListings = Math.max(stats.maxListings, ++listingsInFlight);
        }
      }
      return chunk;
    });
    let downText = "";
    pipeDelayed(upstream, client, delay, down, rate, windowBytes, (n) => { stats.bytesDown += n; }, async (chunk) => {
      downText += chunk.toString("latin1");
      let out = "";
      for (let i; (i = downText.indexOf("\n")) >= 0; downText = downText.slice(i + 1)) {
        let line = downText.slice(0, i + 1);
        const epsv = /^229 .*\(\|\|\|(\d+)\|\)/.exec(line);
        const pasv = /^227 .*?(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)/.exec(line);
        if (epsv) line = `229 Entering Extended Passive Mode (|||${await relayData(Number(epsv[1]))}|)\r\n`;
        else if (pasv) {
          const p = await relayData(Number(pasv[5]) * 256 + Number(pasv[6]));
          line = `227 Entering Passive Mode (127,0,0,1,${p >> 8},${p & 255})\r\n`;
        }
        // A command is over at its final reply (2xx-5xx, last line of a multi-line reply);
        // a 1xx preliminary reply does not end it; the greeting answers no command.
        if (/^[2-5]\d\d /.test(line) && awaiting.length > 0 && awaiting.shift()) {
          pendingListings--;
          listingsInFlight--;
        }
        out += line;
      }
      return Buffer.from(out, "latin1");
    });
    client.once("close", () => { listingsInFlight -= pendingListings; pendingListings = 0; });
  });
  await new Promise<void>((resolve, reject) => {
    control.once("error", reject);
    control.listen(0, "127.0.0.1", resolve);
  });
  return {
    port: (control.address() as { port: number }).port,
    delayMs: delay,
    get stats() { return stats; },
    reset: () => {
      stats = emptyStats();
      stats.peakControl = openControl;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      for (const s of servers) s.close();
      await new Promise((r) => control.close(r));
    },
  };
}
