import { createServer, type Server, type Socket } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { silentLogger, type Logger } from "../log/index.js";
import { formatReply, unmapIPv4 } from "../protocol/index.js";
import type { Authenticator } from "./Authenticator.js";
import { DEFAULT_LIMITS, type ServerLimits } from "./limits.js";
import { Session } from "./Session.js";

/** Options of an FtpServer. */
export interface FtpServerOptions {
  /** Who may log in, and where each user's root is. */
  readonly authenticator: Authenticator;
  /** Address to listen on; default "127.0.0.1". */
  readonly host?: string;
  /** Port; default 21. 0 picks a free port (see `port` after listen()). */
  readonly port?: number;
  /** Inclusive passive port range; default any free port. */
  readonly pasvPorts?: readonly [number, number];
  /** Address advertised in PASV replies, for a server behind NAT; default the local address. */
  readonly pasvAddress?: string;
  /** Overrides of DEFAULT_LIMITS. */
  readonly limits?: Partial<ServerLimits>;
  /** Default: silent. */
  readonly logger?: Logger;
}

/**
 * ferry's FTP server: the listener, the connection limits and graceful shutdown. Each
 * control connection becomes a Session.
 */
export class FtpServer {
  // parameters
  readonly limits: ServerLimits;
  readonly #options: FtpServerOptions;
  readonly #logger: Logger;
  // internal state
  readonly #server: Server;
  readonly #sessions = new Set<Session>();
  readonly #perAddress = new Map<string, number>();
  #closing: Promise<void> | undefined;

  constructor(options: FtpServerOptions) {
    this.#options = options;
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.#logger = options.logger ?? silentLogger();
    // Replies are small writes answered by the next command: with Nagle on, each one waits
    // for the client's delayed ACK (~40 ms on Linux), which dominated small-file uploads.
    this.#server = createServer({ noDelay: true }, (socket) => this.#onConnection(socket));
    this.#server.on("error", (err) => this.#logger.error({ err }, "server error"));
  }

  /** Start listening; resolves with the bound port. */
  async listen(): Promise<number> {
    const host = this.#options.host ?? "127.0.0.1";
    await new Promise<void>((resolve, reject) => {
      this.#server.once("error", reject);
      this.#server.listen({ host, port: this.#options.port ?? 21 }, () => {
        this.#server.off("error", reject);
        resolve();
      });
    });
    this.#logger.info({ event: "server.listen", host, port: this.port }, `listening on ${host}:${this.port}`);
    return this.port;
  }

  /** The bound port (after listen()). */
  get port(): number {
    const addr = this.#server.address();
    return addr && typeof addr === "object" ? addr.port : 0;
  }

  /** Number of open control connections. */
  get sessionCount(): number {
    return this.#sessions.size;
  }

  /**
   * Graceful shutdown: stop accepting, tell idle sessions 421, let running transfers finish
   * for up to `graceMs` (default limits.shutdownGraceMs), then cut what is left.
   */
  close(graceMs = this.limits.shutdownGraceMs): Promise<void> {
    this.#closing ??= this.#shutdown(graceMs);
    return this.#closing;
  }

  async #shutdown(graceMs: number): Promise<void> {
    this.#logger.info({ event: "server.stopping", sessions: this.#sessions.size, graceMs }, "shutting down");
    const stopped = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    const all = [...this.#sessions].map(async (s) => {
      await s.transferDone();
      s.replyAndClose(421, "Server shutting down");
      await s.closed;
    });
    const timer = sleep(graceMs, undefined, { ref: false }).then(() => "timeout" as const);
    if ((await Promise.race([Promise.all(all), timer])) === "timeout") {
      this.#logger.warn({ event: "server.graceExpired", sessions: this.#sessions.size }, "grace period over, closing remaining sessions");
      for (const s of this.#sessions) {
        await s.abortTransfer("server shutting down");
        s.replyAndClose(421, "Server shutting down");
      }
      await Promise.race([Promise.all(all), sleep(2000, undefined, { ref: false })]);
    }
    await stopped;
    this.#logger.info({ event: "server.stopped" }, "server stopped");
  }

  #onConnection(socket: Socket): void {
    socket.on("error", () => undefined); // the Session logs; a refused socket needs no more
    const address = unmapIPv4(socket.remoteAddress ?? "");
    const refuse = (why: string): void => {
      this.#logger.warn({ event: "session.refused", client: address, reason: why }, "connection refused");
      socket.end(formatReply(421, why));
      setTimeout(() => socket.destroy(), 1000).unref();
    };
    if (this.#closing) return refuse("Server shutting down");
    if (this.#sessions.size >= this.limits.maxConnections) return refuse(`Too many connections (limit ${this.limits.maxConnections}), try later`);
    const fromAddress = this.#perAddress.get(address) ?? 0;
    if (fromAddress >= this.limits.maxConnectionsPerAddress) {
      return refuse(`Too many connections from your address (limit ${this.limits.maxConnectionsPerAddress}), try later`);
    }
    this.#perAddress.set(address, fromAddress + 1);
    const session = new Session(socket, {
      authenticator: this.#options.authenticator, limits: this.limits, logger: this.#logger,
      pasvPorts: this.#options.pasvPorts, pasvAddress: this.#options.pasvAddress,
    });
    this.#sessions.add(session);
    socket.once("close", () => {
      this.#sessions.delete(session);
      const n = (this.#perAddress.get(address) ?? 1) - 1;
      if (n <= 0) this.#perAddress.delete(address);
      else this.#perAddress.set(address, n);
    });
    session.start();
  }
}
