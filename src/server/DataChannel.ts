import { createServer, connect, type Server, type Socket } from "node:net";
import type { Logger } from "../log/index.js";
import { sameAddress } from "../protocol/index.js";

/** The data connection could not be opened (no free port, timeout, refused, TLS refused): replied as `code` (default 425). */
export class DataChannelError extends Error {
  override readonly name = "DataChannelError";
  /**
   * `message` goes to the client in the reply, so it must stay plain; `detail` (e.g. an
   * OpenSSL error string) goes to the log only.
   */
  constructor(message: string, readonly code = 425, readonly detail?: string) {
    super(message);
  }
}

/** Options for a passive listener. */
export interface PassiveOptions {
  /** Local address to listen on: the control connection's own local address. */
  readonly bindHost: string;
  /** Inclusive port range; default: any free port. */
  readonly portRange?: readonly [number, number] | undefined;
  /** The control connection's peer: the only address allowed to connect. */
  readonly peerAddress: string;
  readonly logger: Logger;
  /**
   * A listener nobody connected to within this long is closed (vsftpd's accept_timeout), so
   * a session issuing PASV after PASV without connecting holds at most one listener, and
   * not for long (A15). Default: no limit.
   */
  readonly acceptTimeoutMs?: number | undefined;
}

/**
 * One data connection, prepared by PASV/EPSV (we listen) or PORT/EPRT (we dial), used by a
 * single transfer and then closed (RFC 959 section 3.2).
 */
export class DataChannel {
  // parameters
  readonly #connectActive: ((timeoutMs: number) => Promise<Socket>) | undefined;
  readonly #listener: Server | undefined;
  // internal state
  #socket: Socket | undefined;
  #waiter: { resolve: (s: Socket) => void; reject: (e: Error) => void } | undefined;
  #closed = false;
  #acceptTimer: NodeJS.Timeout | undefined;
  #expired: string | undefined;

  private constructor(listener: Server | undefined, connectActive?: (timeoutMs: number) => Promise<Socket>) {
    this.#listener = listener;
    this.#connectActive = connectActive;
  }

  /** Listen for the client's data connection; only `peerAddress` may connect (no data theft, RFC 2577 section 3). */
  static async passive(options: PassiveOptions): Promise<DataChannel> {
    // No Nagle: the last short segment of a small file would otherwise wait for an ACK.
    const listener = createServer({ noDelay: true });
    const channel = new DataChannel(listener);
    listener.on("connection", (socket) => channel.#onPassiveConnection(socket, options));
    listener.on("error", (err) => options.logger.warn({ err }, "passive listener error"));
    await listenInRange(listener, options.bindHost, options.portRange);
    const ms = options.acceptTimeoutMs;
    if (ms !== undefined) {
      channel.#acceptTimer = setTimeout(() => {
        // A transfer already waiting in open() has its own timer and its own 425.
        if (channel.#socket || channel.#waiter || channel.#closed) return;
        channel.#expired = `no data connection within ${Math.round(ms / 100) / 10} s of PASV/EPSV: send PASV or EPSV again`;
        listener.close();
      }, ms);
      channel.#acceptTimer.unref();
    }
    return channel;
  }

  /** Prepare to dial the client's `host:port` from `localAddress` when the transfer starts. */
  static active(host: string, port: number, localAddress: string | undefined): DataChannel {
    return new DataChannel(undefined, (timeoutMs) => dial(host, port, localAddress, timeoutMs));
  }

  /** The passive port we listen on (0 for active channels). */
  get port(): number {
    const addr = this.#listener?.address();
    return addr && typeof addr === "object" ? addr.port : 0;
  }

  /** True when the client has already connected (the transfer then replies 125, not 150). */
  get isConnected(): boolean {
    return this.#socket !== undefined;
  }

  /** The data socket: the accepted one (waiting up to `timeoutMs`) or a fresh outgoing one. */
  async open(timeoutMs: number): Promise<Socket> {
    if (this.#closed) throw new DataChannelError("data channel already closed");
    if (this.#expired) throw new DataChannelError(this.#expired);
    if (this.#connectActive) return this.#connectActive(timeoutMs);
    if (this.#socket) return this.#socket;
    return new Promise<Socket>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiter = undefined;
        reject(new DataChannelError(`no data connection within ${Math.round(timeoutMs / 1000)} s`));
      }, timeoutMs);
      this.#waiter = {
        resolve: (s) => {
          clearTimeout(timer);
          resolve(s);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
    });
  }

  /** Stop listening and drop any data socket. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#acceptTimer);
    this.#listener?.close();
    this.#socket?.destroy();
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.reject(new DataChannelError("data channel closed before the client connected"));
  }

  #onPassiveConnection(socket: Socket, options: PassiveOptions): void {
    socket.on("error", () => undefined); // errors surface through the transfer's pipeline
    const peer = socket.remoteAddress ?? "";
    if (!sameAddress(peer, options.peerAddress)) {
      // A data connection from anyone but the control peer could steal or inject file
      // contents ("port theft", RFC 2577 section 3); refuse it and keep waiting.
      options.logger.warn({ peer, expected: options.peerAddress }, "refused data connection from a foreign address");
      socket.destroy();
      return;
    }
    if (this.#socket || this.#closed) {
      socket.destroy();
      return;
    }
    this.#socket = socket;
    clearTimeout(this.#acceptTimer);
    this.#listener?.close(); // one connection per PASV
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.resolve(socket);
  }
}

async function listenOnce(server: Server, host: string, port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once("error", onError);
    server.listen({ host, port, exclusive: true }, () => {
      server.off("error", onError);
      resolve();
    });
  });
}

/** Listen on a free port of `range` (starting at a random one, so sessions spread out) or any port. */
async function listenInRange(server: Server, host: string, range: readonly [number, number] | undefined): Promise<void> {
  if (!range) return listenOnce(server, host, 0);
  const [lo, hi] = range;
  const count = hi - lo + 1;
  const first = Math.floor(Math.random() * count);
  for (let i = 0; i < count; i++) {
    const port = lo + ((first + i) % count);
    try {
      await listenOnce(server, host, port);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EADDRINUSE") throw err;
    }
  }
  throw new DataChannelError(`no free passive port in ${lo}-${hi}`);
}

function dial(host: string, port: number, localAddress: string | undefined, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, noDelay: true, ...(localAddress ? { localAddress } : {}) });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new DataChannelError(`could not connect to ${host}:${port} within ${Math.round(timeoutMs / 1000)} s`));
    }, timeoutMs);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.removeAllListeners("error");
      socket.on("error", () => undefined); // surfaced through the transfer's pipeline
      resolve(socket);
    });
    socket.once("error", (err) => {
      clearTimeout(timer);
      reject(new DataChannelError(`could not connect to ${host}:${port}: ${err.message}`));
    });
  });
}
