import { createServer, connect, type Server, type Socket } from "node:net";

// A userspace FTP relay on loopback that goes silent instead of cutting (cutProxy.ts cuts):
// a stalled data connection (FAULTS.md C2), a control connection that stops after the 150
// while the data flows (C3). Silence means the sockets stay open and nothing is forwarded:
// no FIN, no RST, as when packets are dropped on the way.

/** A rule that silences a connection once. */
export interface StallRule {
  /** Only transfers whose command matches, e.g. /^RETR .*big/; default every one. */
  on?: RegExp;
  /** How many transfers to stall in all; default 1. */
  times?: number;
}

/** Options of startRelay. */
export interface RelayOptions {
  /** The FTP server's control port on 127.0.0.1. */
  targetPort: number;
  /** Stop forwarding a data connection (both ways) once it has carried this many bytes. */
  stallData?: StallRule & { afterBytes: number };
  /** Stop forwarding the control connection (both ways) right after the server's 1xx reply to the transfer command. */
  stallControl?: StallRule;
}

/** One client session through the relay. */
export interface RelaySession {
  readonly id: number;
  /** Every command line the client sent, forwarded or not. */
  readonly commands: string[];
  /** Whether the control connection was silenced. */
  controlStalled: boolean;
  /** Whether the client closed its control connection. */
  clientClosed: boolean;
}

/** A running relay. */
export interface Relay {
  readonly port: number;
  readonly sessions: readonly RelaySession[];
  /** Stalls done so far. */
  readonly stalls: number;
  /** Every command of every session, in order. */
  readonly commands: string[];
  /** Silence the control connection of every session open now (a peer that vanished); later sessions pass. */
  silenceAll(): void;
  close(): Promise<void>;
}

export async function startRelay(options: RelayOptions): Promise<Relay> {
  const sockets = new Set<Socket>();
  const servers = new Set<Server>();
  const sessions: RelaySession[] = [];
  const state = { stalls: 0, commands: [] as string[] };
  const track = (s: Socket): Socket => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => {});
    return s;
  };
  const armed = (rule: StallRule | undefined, command: string): boolean =>
    rule !== undefined && state.stalls < (rule.times ?? 1) && (rule.on?.test(command) ?? true);

  const control = createServer((client) => {
    track(client);
    const upstream = track(connect(options.targetPort, "127.0.0.1"));
    const session: RelaySession = { id: sessions.length + 1, commands: [], controlStalled: false, clientClosed: false };
    sessions.push(session);
    let lastCommand = "";
    // The transfer a 1xx answers: with a pipelining client, SIZE and HASH may follow STOR at once.
    let lastTransfer = "";
    let up = "";
    client.on("data", (chunk: Buffer) => {
      up += chunk.toString("latin1");
      let i;
      while ((i = up.indexOf("\n")) >= 0) {
        const line = up.slice(0, i + 1);
        up = up.slice(i + 1);
        const cmd = line.trimEnd();
        state.commands.push(cmd);
        session.commands.push(cmd);
        if (session.controlStalled) continue; // silenced: the server never hears it
        lastCommand = cmd;
        if (/^(STOR|STOU|APPE|RETR|LIST|NLST|MLSD)\b/i.test(cmd)) lastTransfer = cmd;
        upstream.write(Buffer.from(line, "latin1"));
      }
    });
    let down = "";
    let chain = Promise.resolve();
    // Replies are handled one chunk after another: a PASV rewrite awaits a listener.
    upstream.on("data", (chunk: Buffer) => { chain = chain.then(() => onReply(chunk)); });
    const onReply = async (chunk: Buffer): Promise<void> => {
      if (session.controlStalled) return;
      down += chunk.toString("latin1");
      let i;
      while ((i = down.indexOf("\n")) >= 0) {
        let line = down.slice(0, i + 1);
        down = down.slice(i + 1);
        const epsv = /^229 (.*)\(\|\|\|(\d+)\|\)/.exec(line);
        const pasv = /^227 .*?(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)/.exec(line);
        if (epsv) {
          const port = await relayData(Number(epsv[2]), () => lastCommand);
          line = `229 Entering Extended Passive Mode (|||${port}|)\r\n`;
        } else if (pasv) {
          const port = await relayData(Number(pasv[5]) * 256 + Number(pasv[6]), () => lastCommand);
          line = `227 Entering Passive Mode (127,0,0,1,${port >> 8},${port & 255})\r\n`;
        }
        client.write(Buffer.from(line, "latin1"));
        if (/^1\d\d /.test(line) && armed(options.stallControl, lastTransfer)) {
          state.stalls++;
          session.controlStalled = true;
          down = "";
          return; // the 226 (and anything after) never reaches the client
        }
      }
    };
    client.on("close", () => {
      session.clientClosed = true;
      // Silenced: the server does not see the close either (its idle timeout ends the session).
      if (!session.controlStalled) upstream.destroy();
    });
    upstream.on("close", () => {
      if (!session.controlStalled) client.destroy(); // silenced: the client sees nothing, not even the close
    });
  });

  /** Listen for one data connection and relay it to the server's passive port. */
  function relayData(serverPort: number, command: () => string): Promise<number> {
    return new Promise((resolve) => {
      const srv = createServer((a) => {
        srv.close();
        servers.delete(srv);
        track(a);
        const b = track(connect(serverPort, "127.0.0.1"));
        const rule = options.stallData;
        // The command is sent after the data connection opens (passive mode): decide on the first byte.
        let stall: boolean | undefined;
        let carried = 0;
        let silenced = false;
        const pump = (from: Socket, to: Socket): void => {
          from.on("data", (chunk: Buffer) => {
            if (silenced) return;
            stall ??= rule !== undefined && armed(rule, command());
            if (stall && rule && carried + chunk.length >= rule.afterBytes) {
              to.write(chunk.subarray(0, rule.afterBytes - carried));
              carried = rule.afterBytes;
              silenced = true;
              state.stalls++;
              // Read no more either: the sender's buffers fill and it stalls, as on a dead path.
              a.pause();
              b.pause();
              return;
            }
            carried += chunk.length;
            to.write(chunk);
          });
        };
        pump(a, b);
        pump(b, a);
        a.on("end", () => { if (!silenced) b.end(); });
        b.on("end", () => { if (!silenced) a.end(); });
        a.on("close", () => { if (!silenced) b.destroy(); });
        b.on("close", () => { if (!silenced) a.destroy(); });
      });
      servers.add(srv);
      srv.listen(0, "127.0.0.1", () => resolve((srv.address() as { port: number }).port));
    });
  }

  await new Promise<void>((r) => control.listen(0, "127.0.0.1", r));
  return {
    port: (control.address() as { port: number }).port,
    sessions,
    get stalls() { return state.stalls; },
    commands: state.commands,
    silenceAll: () => {
      for (const session of sessions) session.controlStalled = true;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      for (const srv of servers) srv.close();
      await new Promise<void>((r) => control.close(() => r()));
    },
  };
}
