import { createServer, type Server, type Socket } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { silentLogger, type Logger } from "../log/index.js";
import { formatReply, unmapIPv4 } from "../protocol/index.js";
import type { Authenticator } from "./Authenticator.js";
import { DigestCache } from "./digestCache.js";
import { FolderSync, type SyncFolder } from "./folderSync.js";
import { DEFAULT_LIMITS, type ServerLimits } from "./limits.js";
import { Session } from "./Session.js";
import { SessionSlots } from "./slots.js";
import { createSessionContext, tlsPolicy, wrapServerSocket, type ServerTlsOptions, type TlsPolicy } from "./tls.js";

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
  /** TLS: certificate, key and policy; enables AUTH TLS and, with `implicitPort`, implicit FTPS. Default: plain FTP only. */
  readonly tls?: ServerTlsOptions;
  /** Default: silent. */
  readonly logger?: Logger;
  /** How a folder is flushed after an upload was renamed into it; default fsync (tests observe the order through it). */
  readonly syncFolder?: SyncFolder;
  /** The digests HASH may answer from; default a fresh cache (tests look into it). */
  readonly digests?: DigestCache;
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
  readonly #tls: TlsPolicy | undefined;
  readonly #implicitServer: Server | undefined;
  readonly #sessions = new Set<Session>();
  readonly #slots: SessionSlots<Session>;
  readonly #folders: FolderSync;
  readonly #digests: DigestCache;
  #closing: Promise<void> | undefined;

  constructor(options: FtpServerOptions) {
    this.#options = options;
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.#logger = options.logger ?? silentLogger();
    this.#slots = new SessionSlots(this.limits);
    this.#folders = new FolderSync(options.syncFolder);
    this.#digests = options.digests ?? new DigestCache();
    // Replies are small writes answered by the next command: with Nagle on, each one waits
    // for the client's delayed ACK (~40 ms on Linux), which dominated small-file uploads.
    this.#server = createServer({ noDelay: true }, (socket) => this.#onConnection(socket, false));
    this.#server.on("error", (err) => this.#logger.error({ err }, "server error"));
    this.#tls = options.tls ? tlsPolicy(options.tls) : undefined;
    const needTls = options.authenticator.usersRequiringTls;
    if (!this.#tls && needTls.length > 0) {
      throw new Error(`users ${needTls.join(", ")} require TLS but the server has no certificate: give it tls cert and key, or drop their requireTls* settings`);
    }
    if (options.tls?.implicitPort !== undefined) {
      this.#implicitServer = createServer({ noDelay: true }, (socket) => this.#onConnection(socket, true));
      this.#implicitServer.on("error", (err) => this.#logger.error({ err }, "implicit TLS server error"));
    }
  }

  /** Start listening; resolves with the bound port. */
  async listen(): Promise<number> {
    const host = this.#options.host ?? "127.0.0.1";
    await listenOn(this.#server, host, this.#options.port ?? 21);
    this.#logger.info({ event: "server.listen", host, port: this.port, tls: this.#tls ? "explicit" : "none" }, `listening on ${host}:${this.port}`);
    if (this.#implicitServer) {
      try {
        await listenOn(this.#implicitServer, host, this.#options.tls?.implicitPort ?? 990);
      } catch (err) {
        this.#server.close();
        throw new Error(`implicit TLS port ${this.#options.tls?.implicitPort}: ${(err as Error).message}`, { cause: err });
      }
      this.#logger.info({ event: "server.listen", host, port: this.implicitPort, tls: "implicit" }, `implicit TLS on ${host}:${this.implicitPort}`);
    }
    return this.port;
  }

  /** The bound implicit-TLS port (after listen()); 0 when there is none. */
  get implicitPort(): number {
    const addr = this.#implicitServer?.address();
    return addr && typeof addr === "object" ? addr.port : 0;
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

  /** Number of control connections not (yet) logged in, as counted against maxUnauthenticated. */
  get unauthenticatedCount(): number {
    return this.#slots.pendingSize;
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
    const stopped = Promise.all([this.#server, this.#implicitServer].map((srv) =>
      srv?.listening ? new Promise<void>((resolve) => srv.close(() => resolve())) : undefined));
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

  #onConnection(socket: Socket, implicit: boolean): void {
    socket.on("error", () => undefined); // the Session logs; a refused socket needs no more
    const address = unmapIPv4(socket.remoteAddress ?? "");
    const refuse = (why: string): void => {
      this.#logger.warn({ event: "session.refused", client: address, reason: why }, "connection refused");
      // On the implicit port the client speaks TLS from its first byte: a clear-text 421 would only read as a TLS error.
      const out = implicit && this.#tls ? wrapServerSocket(socket, createSessionContext(this.#tls)) : socket;
      out.end(formatReply(421, why));
      setTimeout(() => socket.destroy(), 1000).unref();
    };
    if (this.#closing) return refuse("Server shutting down");
    const admission = this.#slots.check(address);
    if (admission.kind === "refuse") return refuse(admission.reason);
    if (admission.kind === "evict") {
      const victim = admission.victim;
      this.#logger.warn({ event: "session.evicted", session: victim.id, client: victim.remoteAddress, for: address }, "closed a session waiting to log in to make room");
      this.#slots.release(victim);
      victim.replyAndClose(421, admission.reason);
    }
    const options = {
      authenticator: this.#options.authenticator, limits: this.limits, logger: this.#logger,
      pasvPorts: this.#options.pasvPorts, pasvAddress: this.#options.pasvAddress, tls: this.#tls,
      folders: this.#folders, digests: this.#digests,
      onLoginChange: (s: Session, loggedIn: boolean) => this.#slots.setLoggedIn(s, loggedIn),
    };
    let session: Session;
    if (implicit && this.#tls) {
      // Implicit FTPS: TLS from the first byte; the 220 greeting waits in the TLS layer until the handshake is done.
      const context = createSessionContext(this.#tls);
      session = new Session(wrapServerSocket(socket, context), options, context);
    } else {
      session = new Session(socket, options);
    }
    this.#sessions.add(session);
    this.#slots.add(session, address);
    void session.closed.then(() => {
      this.#sessions.delete(session);
      this.#slots.release(session);
    });
    session.start();
  }
}

function listenOn(server: Server, host: string, port: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host, port }, () => {
      server.off("error", reject);
      resolve();
    });
  });
}
