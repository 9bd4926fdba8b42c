import { connect, createServer, type Server, type Socket } from "node:net";
import { formatReply, parseCommandLine } from "../../src/protocol/index.js";

/** One session of the fake server, as a handler sees it. */
export interface FakeSession {
  /** Send a reply (several lines make a multi-line reply). */
  reply(code: number, text: string | string[]): void;
  /** Send raw text on the control connection (for malformed or odd replies). */
  write(raw: string): void;
  /** The next data connection (passive: the client connecting; active: us connecting to EPRT/PORT). */
  data(): Promise<Socket>;
  /** Close the control connection. */
  close(): void;
  readonly control: Socket;
  /** Per-session scratch space for handlers. */
  readonly state: Record<string, unknown>;
}

/** A handler for one verb; it receives the argument verbatim. */
export type FakeHandler = (arg: string, session: FakeSession) => void | Promise<void>;

/** Options of the fake server. */
export interface FakeServerOptions {
  /**
   * Raw greeting text; default "220 fake ready\r\n". A function gets the session's number
   * (0 for the first) and how many control connections are open, this one included.
   */
  greeting?: string | ((session: { index: number; open: number }) => string);
  /** Handlers by upper-case verb; they override the defaults. */
  handlers?: Record<string, FakeHandler>;
  /** The FEAT lines (without the framing); default MLST-less vsftpd-like features. */
  features?: string[];
  /** Address put in 227 replies; default 127.0.0.1. */
  pasvAddress?: string;
  /** Listen address for control and passive data; default 127.0.0.1 ("::1" for IPv6 tests). */
  host?: string;
  /**
   * "first": only the first command of each read is handled and the rest of that read is
   * dropped (a server that reads one command per packet); default "all".
   */
  perRead?: "all" | "first";
  /** Verbs handled as soon as they arrive instead of in order (a server that answers out of order); ABOR always is. */
  unordered?: (verb: string) => boolean;
}

/** A running fake server. */
export interface FakeServer {
  readonly port: number;
  /** Every command line received, in order, across sessions (PASS arguments included, for assertions). */
  readonly commands: string[];
  /** Bytes received on data connections by the default STOR/APPE handlers, by path. */
  readonly uploads: Map<string, Buffer>;
  close(): Promise<void>;
}

/** Send `body` on the next data connection with 150 before and 226 after. */
export async function sendData(s: FakeSession, body: string | Buffer): Promise<void> {
  s.reply(150, "Opening BINARY mode data connection.");
  const d = await s.data();
  d.end(body);
  await new Promise((r) => d.once("close", r));
  s.reply(226, "Transfer complete.");
}

/**
 * A scripted FTP peer on 127.0.0.1 (STYLE guideline 15): a handler map keyed by verb, with
 * sensible defaults, recording every command. Passive data via EPSV/PASV, active via EPRT/PORT.
 */
export async function startFakeFtpServer(options: FakeServerOptions = {}): Promise<FakeServer> {
  const commands: string[] = [];
  const uploads = new Map<string, Buffer>();
  const sockets = new Set<Socket>();
  const servers = new Set<Server>();
  const host = options.host ?? "127.0.0.1";
  const features = options.features ?? ["EPRT", "EPSV", "MDTM", "PASV", "REST STREAM", "SIZE", "TVFS"];

  const defaults: Record<string, FakeHandler> = {
    USER: (_a, s) => s.reply(331, "Please specify the password."),
    PASS: (_a, s) => s.reply(230, "Login successful."),
    FEAT: (_a, s) => s.reply(211, ["Features:", ...features.map((f) => ` ${f}`), "End"]),
    TYPE: (_a, s) => s.reply(200, "Switching to Binary mode."),
    OPTS: (_a, s) => s.reply(200, "OK"),
    NOOP: (_a, s) => s.reply(200, "NOOP ok."),
    PWD: (_a, s) => s.reply(257, '"/" is the current directory'),
    CWD: (_a, s) => s.reply(250, "Directory successfully changed."),
    QUIT: (_a, s) => {
      s.reply(221, "Goodbye.");
      s.close();
    },
    ABOR: (_a, s) => s.reply(225, "No transfer to ABOR."),
    EPSV: async (_a, s) => s.reply(229, `Entering Extended Passive Mode (|||${await listenPassive(s)}|)`),
    PASV: async (_a, s) => {
      const port = await listenPassive(s);
      const a = (options.pasvAddress ?? "127.0.0.1").split(",").join(".").split(".");
      s.reply(227, `Entering Passive Mode (${a.join(",")},${port >> 8},${port & 255}).`);
    },
    EPRT: (arg, s) => {
      const [, , host = "", port = ""] = arg.split(arg[0] ?? "|");
      s.state.active = { host, port: Number(port) };
      s.reply(200, "EPRT command successful.");
    },
    STOR: (arg, s) => receive(arg, s, false),
    APPE: (arg, s) => receive(arg, s, true),
  };
  const handlers = { ...defaults, ...options.handlers };

  async function receive(path: string, s: FakeSession, append: boolean): Promise<void> {
    s.reply(150, "Ok to send data.");
    const d = await s.data();
    const chunks: Buffer[] = [];
    for await (const c of d) chunks.push(c as Buffer);
    const prev = append ? uploads.get(path) ?? Buffer.alloc(0) : Buffer.alloc(0);
    uploads.set(path, Buffer.concat([prev, ...chunks]));
    s.reply(226, "Transfer complete.");
  }

  function listenPassive(s: FakeSession): Promise<number> {
    // A new passive request replaces any data connection the client left unused.
    for (const stale of (s.state.dataReady as Socket[]).splice(0)) stale.destroy();
    return new Promise((resolve) => {
      const srv = createServer((sock) => {
        sockets.add(sock);
        srv.close();
        servers.delete(srv);
        (s.state.dataWaiters as ((x: Socket) => void)[]).shift()?.(sock) ?? (s.state.dataReady as Socket[]).push(sock);
      });
      servers.add(srv);
      srv.listen(0, host, () => resolve((srv.address() as { port: number }).port));
    });
  }

  let sessionCount = 0;
  let openSessions = 0;
  const server = createServer((control) => {
    sockets.add(control);
    const index = sessionCount++;
    openSessions++;
    control.once("close", () => openSessions--);
    const state: Record<string, unknown> = { dataWaiters: [], dataReady: [] };
    const session: FakeSession = {
      control,
      state,
      reply: (code, text) => {
        if (!control.destroyed) control.write(formatReply(code, text));
      },
      write: (raw) => {
        if (!control.destroyed) control.write(raw);
      },
      close: () => control.end(),
      data: () => {
        const active = state.active as { host: string; port: number } | undefined;
        if (active) {
          state.active = undefined;
          return new Promise((resolve, reject) => {
            const sock = connect({ port: active.port, host: active.host });
            sockets.add(sock);
            sock.once("connect", () => resolve(sock));
            sock.once("error", reject);
          });
        }
        const ready = (state.dataReady as Socket[]).shift();
        if (ready) return Promise.resolve(ready);
        return new Promise((resolve) => (state.dataWaiters as ((x: Socket) => void)[]).push(resolve));
      },
    };
    control.on("error", () => undefined);
    const greeting = typeof options.greeting === "function" ? options.greeting({ index, open: openSessions }) : options.greeting;
    control.write(greeting ?? "220 fake ready\r\n");
    let buffer = "";
    let chain = Promise.resolve();
    control.setEncoding("utf8");
    control.on("data", (text: string) => {
      buffer += text;
      let nl: number;
      let handled = 0;
      while ((nl = buffer.indexOf("\r\n")) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 2);
        if (options.perRead === "first" && handled++ > 0) {
          buffer = "";
          break;
        }
        commands.push(line);
        const { verb, arg } = parseCommandLine(line);
        const handler = handlers[verb];
        // ABOR is handled at once, out of order, as a real server's urgent handling would.
        const run = async (): Promise<void> => {
          if (handler) await handler(arg, session);
          else session.reply(502, `${verb} not implemented.`);
        };
        if (verb === "ABOR" || options.unordered?.(verb)) void run().catch(() => undefined);
        else chain = chain.then(run).catch(() => undefined);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, host, () => resolve()));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    commands,
    uploads,
    close: async () => {
      for (const s of sockets) s.destroy();
      for (const s of servers) s.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

