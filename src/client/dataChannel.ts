import { connect, createServer, isIPv4, type Server, type Socket } from "node:net";
import { WriteStream } from "node:fs";
import type { Writable } from "node:stream";
import type { Logger } from "../log/index.js";
import {
  ProtocolError, formatEprtArg, formatHostPortNumbers, isPrivateAddress, parseEpsvReply, parsePasvReply,
  sameAddress, unmapIPv4, type HostPort,
} from "../protocol/index.js";
import type { ControlChannel } from "./ControlChannel.js";
import { FtpConnectionError, FtpTimeoutError } from "./errors.js";

/** The passive commands, in the order they are tried (RFC 2428 EPSV first, RFC 959 PASV). */
export type PassiveCommand = "EPSV" | "PASV";

/** A data connection being set up: passive ones are already connected, active ones arrive later. */
export interface DataConnection {
  /** Resolves with the connected socket (active: once the server has connected back). */
  readonly socket: Promise<Socket>;
  /** Set when the socket reads through a Receiver (passive downloads of plain connections). */
  readonly receiver?: Receiver;
  /** Tear down whatever is open (socket, listener). */
  close(): void;
}

/**
 * Reads a passive data socket through net's `onread` hook (own buffers, no 'data' events)
 * and delivers the bytes: BulkReceiver to a Writable, FileReceiver straight into a file.
 */
export interface Receiver {
  /** The `onread` option for net.connect. */
  readonly onread: { buffer: () => Uint8Array; callback: (n: number, buf: Uint8Array) => boolean };
  /** The socket reading through this receiver. */
  bind(socket: Socket): void;
  /** Payload bytes received so far (a TLS socket's own counters include the TLS framing). */
  readonly received: number;
  /** Start delivering (the transfer began); `onError` aborts the transfer on a local failure. */
  attach(destination: Writable | undefined, onError: (err: Error) => void): void;
  /** Stop delivering (the transfer ended or was aborted). */
  detach(): void;
}

// Read size of a BulkReceiver. Node's default reads are 64 KiB into a fresh buffer each; on
// loopback that is 16 reads per MiB, each with its own 'data' event, pipe write and garbage.
// 128 KiB measured best on loopback against vsftpd (64 KiB: more reads; 256 KiB-1 MiB: more
// memory held per chunk and no faster).
const BULK_CHUNK = 128 * 1024;
// A receiver starts with a small buffer and takes a BULK_CHUNK one once a read fills it: a
// mirror of 5,000 small files would otherwise allocate (and collect) 640 MB of read buffers.
const FIRST_CHUNK = 16 * 1024;

/**
 * Reads a download socket in chunks of up to 128 KiB through net's `onread` hook and writes
 * them to the destination, pausing the socket while the destination is full (backpressure).
 * A large read is handed on as is and a fresh buffer is taken; a small read is copied out so
 * the large buffer is reused: no 128 KiB allocation per trickle of bytes.
 */
export class BulkReceiver implements Receiver {
  // internal state
  #next: Buffer = Buffer.allocUnsafe(FIRST_CHUNK);
  /** Buffers a file destination has finished with, for reuse (see attach). */
  readonly #spare: Buffer[] = [];
  #recycle = false;
  #socket: Socket | undefined;
  #destination: Writable | undefined;
  #pending: Buffer[] = [];
  #waitingForDrain = false;
  #received = 0;

  /** The `onread` option for net.connect. */
  readonly onread = {
    buffer: (): Buffer => this.#next,
    callback: (n: number, buf: Uint8Array): boolean => this.#onChunk(n, buf as Buffer),
  };

  /** The socket reading through this receiver. */
  bind(socket: Socket): void {
    this.#socket = socket;
  }

  /** Payload bytes received so far. */
  get received(): number {
    return this.#received;
  }

  /** Start delivering to `destination`; bytes that arrived before go first. */
  attach(destination: Writable | undefined): void {
    if (!destination) throw new Error("BulkReceiver needs a destination");
    this.#destination = destination;
    // An fs.WriteStream is done with a chunk once its write callback ran (the bytes are in the
    // file), so the buffer can be read into again: no fresh memory per read, and RSS stays flat
    // instead of growing until the next GC. Other destinations may keep chunks (a collector
    // pushing them into an array), so they always get fresh buffers.
    this.#recycle = destination instanceof WriteStream;
    const pending = this.#pending;
    this.#pending = [];
    let flowing = true;
    for (const chunk of pending) flowing = destination.write(chunk) && flowing;
    if (flowing) this.#socket?.resume();
    else this.#awaitDrain();
  }

  /** Stop delivering (the transfer ended or was aborted). */
  detach(): void {
    this.#destination = undefined;
    this.#pending = [];
  }

  #onChunk(n: number, buf: Buffer): boolean {
    this.#received += n;
    let chunk: Buffer;
    let full: Buffer | undefined;
    if (n >= BULK_CHUNK / 4) {
      chunk = buf.subarray(0, n);
      full = buf;
      this.#next = this.#spare.pop() ?? Buffer.allocUnsafe(BULK_CHUNK);
    } else {
      chunk = Buffer.allocUnsafe(n);
      buf.copy(chunk, 0, 0, n);
      // The small first buffer came back full: more is coming, so read in large chunks now.
      if (n === buf.length && buf.length < BULK_CHUNK) this.#next = this.#spare.pop() ?? Buffer.allocUnsafe(BULK_CHUNK);
    }
    const destination = this.#destination;
    if (!destination) {
      // Data before the 1xx reply: hold it and stop reading until the transfer starts.
      this.#pending.push(chunk);
      this.#socket?.pause();
      return false;
    }
    const ok = this.#recycle && full ? destination.write(chunk, () => this.#release(full)) : destination.write(chunk);
    if (ok) return true;
    this.#awaitDrain();
    return false;
  }

  #release(buffer: Buffer): void {
    if (this.#spare.length < 8 && buffer.length === BULK_CHUNK) this.#spare.push(buffer);
  }

  #awaitDrain(): void {
    this.#socket?.pause();
    if (this.#waitingForDrain) return;
    this.#waitingForDrain = true;
    this.#destination?.once("drain", () => {
      this.#waitingForDrain = false;
      this.#socket?.resume();
    });
  }
}

/**
 * Where to connect for a PASV reply (STYLE guideline 8). A server behind NAT often
 * advertises its private address: then use the control connection's host, as curl and
 * basic-ftp do. A public address other than the control host is refused: following it
 * would let a hostile server point the client at a third party (FTP bounce, RFC 2577).
 */
export function choosePassiveHost(advertised: string, controlHost: string): string {
  if (sameAddress(advertised, controlHost)) return unmapIPv4(controlHost);
  if (isPrivateAddress(advertised) || advertised === "0.0.0.0") return unmapIPv4(controlHost);
  throw new ProtocolError(
    `PASV advertised ${advertised}, a public address other than the control host ${unmapIPv4(controlHost)}; ` +
      "refusing to connect there (FTP bounce, RFC 2577) - fix the server's passive address setting",
  );
}

/** Options shared by the data-connection openers. */
export interface DataOptions {
  readonly timeoutMs: number;
  readonly logger: Logger;
}

/** Connect a data socket to host:port, with a connect timeout; reading through `receiver` when given. */
export function connectData(target: HostPort, options: DataOptions, receiver?: Receiver): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: target.host, port: target.port, ...(receiver ? { onread: receiver.onread } : {}) });
    receiver?.bind(socket);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new FtpTimeoutError(`data connection to ${target.host}:${target.port} not established within ${options.timeoutMs} ms`));
    }, options.timeoutMs);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.removeAllListeners("error");
      resolve(socket);
    });
    socket.once("error", (err) => {
      clearTimeout(timer);
      reject(new FtpConnectionError(`data connection to ${target.host}:${target.port}: ${err.message}`, { cause: err }));
    });
  });
}

/** Where to connect for the reply text of EPSV or PASV on a control connection to `controlHost`. */
export function passiveTarget(command: PassiveCommand, text: string, controlHost: string, logger: Logger): HostPort {
  if (command === "EPSV") return { host: unmapIPv4(controlHost), port: parseEpsvReply(text) };
  const advertised = parsePasvReply(text);
  const host = choosePassiveHost(advertised.host, controlHost);
  if (host !== advertised.host) logger.debug({ advertised: advertised.host, using: host }, "ftp PASV: using the control host");
  return { host, port: advertised.port };
}

/** Ask for a passive data port with `command` and connect to it, reading through `receiver()` when given (downloads). */
export async function openPassive(control: ControlChannel, command: PassiveCommand, options: DataOptions & { receiver?: () => Receiver }): Promise<DataConnection> {
  const controlHost = control.socket.remoteAddress;
  if (!controlHost) throw new FtpConnectionError("control connection has no remote address (closed?)");
  const reply = await control.request(command);
  const target = passiveTarget(command, reply.lines.join(" "), controlHost, options.logger);
  const receiver = options.receiver?.();
  const socket = await connectData(target, options, receiver);
  return { socket: Promise.resolve(socket), ...(receiver ? { receiver } : {}), close: () => socket.destroy() };
}

/**
 * Listen for an active-mode data connection and tell the server with EPRT (or PORT when
 * `command` says so). Only a connection from the control peer's address is accepted
 * (data theft protection, RFC 2577).
 */
export async function openActive(control: ControlChannel, command: "EPRT" | "PORT", options: DataOptions): Promise<DataConnection> {
  const localHost = control.socket.localAddress;
  const peerHost = control.socket.remoteAddress;
  if (!localHost || !peerHost) throw new FtpConnectionError("control connection has no address (closed?)");
  const server: Server = createServer({ pauseOnConnect: true });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, localHost, () => resolve());
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  const host = unmapIPv4(localHost);
  let accepted: Socket | undefined;
  let timer: NodeJS.Timeout | undefined;
  const close = (): void => {
    if (timer) clearTimeout(timer);
    server.close();
    accepted?.destroy();
  };
  const socket = new Promise<Socket>((resolve, reject) => {
    server.on("connection", (s: Socket) => {
      if (accepted || !sameAddress(s.remoteAddress ?? "", peerHost)) {
        options.logger.warn({ from: s.remoteAddress }, "ftp active data connection from a foreign address refused");
        s.destroy();
        return;
      }
      accepted = s;
      clearTimeout(timer);
      server.close();
      resolve(s);
    });
    timer = setTimeout(() => {
      close();
      reject(new FtpTimeoutError(`the server did not connect to ${host}:${port} within ${options.timeoutMs} ms (active mode)`));
    }, options.timeoutMs);
  });
  socket.catch(() => undefined); // observed by the transfer; avoid an unhandled rejection before then
  try {
    if (command === "PORT") {
      if (!isIPv4(host)) throw new ProtocolError(`PORT carries IPv4 only; the local address is ${host}`);
      await control.request("PORT", formatHostPortNumbers({ host, port }));
    } else {
      await control.request("EPRT", formatEprtArg({ host, port }));
    }
  } catch (err) {
    close();
    throw err;
  }
  return { socket, close };
}
