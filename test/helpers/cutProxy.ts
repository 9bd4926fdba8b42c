import { createServer, connect, type Server, type Socket } from "node:net";

/** Options of startCutProxy. */
export interface CutProxyOptions {
  /** The FTP server's control port on 127.0.0.1. */
  targetPort: number;
  /** Cut the session when a data connection for a command matching `cutOn` has carried this many bytes. */
  cutAfterBytes?: number;
  /** How many sessions to cut that way; default 1. */
  maxCuts?: number;
  /** Which transfer command to cut, e.g. /^STOR .*big/. */
  cutOn?: RegExp;
  /** Commands answered "550 Permission denied (injected)" by the proxy instead of the server. */
  deny?: RegExp;
  /**
   * Instead of cutting the session, end that data stream early with an orderly close, as a
   * faulty middlebox would: the receiver gets the first `cutAfterBytes` bytes and a FIN, the
   * sender's remaining bytes are read and dropped, and the server's reply passes (a 226 for a
   * transfer that was short).
   */
  shorten?: boolean;
  /**
   * After a cut, commands of every session are held until this resolves: a test waits here for
   * the server to have dealt with the cut session (e.g. kept its partial upload) before the
   * client's retry reaches it, as a real retry's backoff would.
   */
  afterCut?: () => Promise<void>;
  /** FEAT lines (e.g. /^(HASH|X(SHA|MD5|CRC))/) the proxy drops, so the client sees a server without them. */
  hideFeatures?: RegExp;
}

/** A running proxy. */
export interface CutProxy {
  port: number;
  /** Sessions cut so far. */
  readonly cuts: number;
  /** Every command line the clients sent. */
  readonly commands: string[];
  close(): Promise<void>;
}

/**
 * A loopback FTP proxy for fault tests: it relays the control connection, rewrites PASV and
 * EPSV replies so data connections pass through it too, and can cut a whole session (data
 * and control, the bytes before the cut delivered) after N bytes of a transfer, or answer
 * 550 for chosen commands. Plain FTP only: under TLS the replies cannot be rewritten.
 */
export async function startCutProxy(options: CutProxyOptions): Promise<CutProxy> {
  const sockets = new Set<Socket>();
  const servers = new Set<Server>();
  const state = { cuts: 0, commands: [] as string[], gate: Promise.resolve() };
  const track = (s: Socket) => { sockets.add(s); s.on("close", () => sockets.delete(s)); s.on("error", () => {}); return s; };

  const control = createServer((client) => {
    track(client);
    const upstream = track(connect(options.targetPort, "127.0.0.1"));
    const session = { lastCommand: "", sockets: [client, upstream] as Socket[] };
    const cut = () => {
      for (const s of session.sockets) s.destroy();
      if (options.afterCut) state.gate = options.afterCut();
    };
    let forward = Promise.resolve();
    let up = "";
    client.on("data", (chunk: Buffer) => {
      up += chunk.toString("latin1");
      let i;
      while ((i = up.indexOf("\n")) >= 0) {
        const line = up.slice(0, i + 1);
        up = up.slice(i + 1);
        const cmd = line.trimEnd();
        const send = (): void => {
          state.commands.push(cmd);
          session.lastCommand = cmd;
          if (options.deny?.test(cmd)) client.write("550 Permission denied (injected)\r\n");
          else upstream.write(Buffer.from(line, "latin1"));
        };
        if (!options.afterCut) send();
        else forward = forward.then(() => state.gate).then(send, send);
      }
    });
    let down = "";
    let chain = Promise.resolve();
    // Replies are handled one chunk after another: a PASV rewrite awaits a listener.
    upstream.on("data", (chunk: Buffer) => { chain = chain.then(() => onReply(chunk)); });
    const onReply = async (chunk: Buffer): Promise<void> => {
      down += chunk.toString("latin1");
      let i;
      while ((i = down.indexOf("\n")) >= 0) {
        let line = down.slice(0, i + 1);
        down = down.slice(i + 1);
        if (options.hideFeatures && /^ \S/.test(line) && /^FEAT/i.test(session.lastCommand) && options.hideFeatures.test(line.trim())) continue;
        const epsv = /^229 (.*)\(\|\|\|(\d+)\|\)/.exec(line);
        const pasv = /^227 .*?(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)/.exec(line);
        if (epsv) {
          const port = await relayData(Number(epsv[2]), session, cut);
          line = `229 Entering Extended Passive Mode (|||${port}|)\r\n`;
        } else if (pasv) {
          const port = await relayData(Number(pasv[5]) * 256 + Number(pasv[6]), session, cut);
          line = `227 Entering Passive Mode (127,0,0,1,${port >> 8},${port & 255})\r\n`;
        }
        client.write(Buffer.from(line, "latin1"));
      }
    };
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });

  /** Listen for one data connection and relay it to the server's passive port, counting bytes. */
  function relayData(serverPort: number, session: { lastCommand: string; sockets: Socket[] }, cut: () => void): Promise<number> {
    return new Promise((resolve) => {
      const srv = createServer((a) => {
        srv.close();
        servers.delete(srv);
        track(a);
        const b = track(connect(serverPort, "127.0.0.1"));
        session.sockets.push(a, b);
        let carried = 0;
        let shortened = false;
        const pump = (from: Socket, to: Socket) => from.on("data", (chunk: Buffer) => {
          if (shortened) return; // the sender's rest is dropped
          const armed = options.cutAfterBytes !== undefined && state.cuts < (options.maxCuts ?? 1) && (options.cutOn?.test(session.lastCommand) ?? true);
          if (armed && carried + chunk.length >= options.cutAfterBytes! && options.shorten) {
            shortened = true;
            state.cuts++;
            to.end(chunk.subarray(0, options.cutAfterBytes! - carried));
            return;
          }
          if (armed && carried + chunk.length >= options.cutAfterBytes!) {
            to.write(chunk.subarray(0, options.cutAfterBytes! - carried), () => { state.cuts++; cut(); });
            carried = options.cutAfterBytes!;
            from.pause();
            return;
          }
          carried += chunk.length;
          to.write(chunk);
        });
        pump(a, b);
        pump(b, a);
        a.on("end", () => b.end());
        b.on("end", () => a.end());
        // A shortened stream's sender is read to its end, whatever its receiver does.
        a.on("close", () => { if (!shortened) b.destroy(); });
        b.on("close", () => { if (!shortened) a.destroy(); });
      });
      servers.add(srv);
      srv.listen(0, "127.0.0.1", () => resolve((srv.address() as { port: number }).port));
    });
  }

  await new Promise<void>((r) => control.listen(0, "127.0.0.1", r));
  return {
    port: (control.address() as { port: number }).port,
    get cuts() { return state.cuts; },
    commands: state.commands,
    close: async () => {
      for (const s of sockets) s.destroy();
      for (const srv of servers) srv.close();
      await new Promise<void>((r) => control.close(() => r()));
    },
  };
}
