import { connect, type Socket } from "node:net";
import { once } from "node:events";
import { parseReplies, parsePasvReply, type Reply } from "../../src/protocol/index.js";

/** A bare-bones control connection for tests: send a line, await the next reply. */
export class RawClient {
  readonly socket: Socket;
  #text = "";
  #replies: Reply[] = [];
  #waiters: Array<(r: Reply | undefined) => void> = [];
  #closed = false;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.setEncoding("utf8");
    socket.on("data", (d: string) => {
      this.#text += d;
      const { replies, rest } = parseReplies(this.#text);
      this.#text = rest;
      for (const r of replies) {
        const w = this.#waiters.shift();
        if (w) w(r);
        else this.#replies.push(r);
      }
    });
    socket.on("error", () => undefined);
    socket.on("close", () => {
      this.#closed = true;
      for (const w of this.#waiters.splice(0)) w(undefined);
    });
  }

  /** A RawClient over an already-connected socket (e.g. a TLS socket after AUTH TLS). */
  static over(socket: Socket): RawClient {
    return new RawClient(socket);
  }

  /** Connect and read the greeting. */
  static async connect(port: number, options: { host?: string; localAddress?: string } = {}): Promise<{ client: RawClient; greeting: Reply | undefined }> {
    const socket = connect({ host: options.host ?? "127.0.0.1", port, ...(options.localAddress ? { localAddress: options.localAddress } : {}) });
    await once(socket, "connect");
    const client = new RawClient(socket);
    return { client, greeting: await client.next() };
  }

  /** Connect and log in; throws unless 230. */
  static async login(port: number, user = "user", pass = "pass"): Promise<RawClient> {
    const { client } = await RawClient.connect(port);
    await client.send(`USER ${user}`);
    const r = await client.send(`PASS ${pass}`);
    if (r?.code !== 230) throw new Error(`login failed: ${r?.code} ${r?.lines.join(" ")}`);
    return client;
  }

  /** True once the server closed the connection. */
  get closed(): boolean {
    return this.#closed;
  }

  /** The next reply (undefined when the connection closed first), bounded by a timeout. */
  next(timeoutMs = 10_000): Promise<Reply | undefined> {
    const queued = this.#replies.shift();
    if (queued) return Promise.resolve(queued);
    if (this.#closed) return Promise.resolve(undefined);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no reply within ${timeoutMs} ms`)), timeoutMs);
      this.#waiters.push((r) => {
        clearTimeout(timer);
        resolve(r);
      });
    });
  }

  /** Send raw bytes (no CRLF added). */
  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** Send a command line and await its reply. */
  async send(line: string, timeoutMs?: number): Promise<Reply | undefined> {
    this.socket.write(line + "\r\n");
    return this.next(timeoutMs);
  }

  /** PASV, returning the data port. */
  async pasv(): Promise<number> {
    const r = await this.send("PASV");
    if (r?.code !== 227) throw new Error(`PASV failed: ${r?.code}`);
    return parsePasvReply(r.lines[0] ?? "").port;
  }

  /** Resolves when the server closes the connection (bounded). */
  async waitClosed(timeoutMs = 10_000): Promise<void> {
    if (this.#closed) return;
    await Promise.race([
      once(this.socket, "close"),
      new Promise((_, reject) => setTimeout(() => reject(new Error("connection not closed in time")), timeoutMs).unref()),
    ]);
  }

  /** Close our side. */
  close(): void {
    this.socket.destroy();
  }
}

/** Open a passive data connection to `port` (optionally from `localAddress`) and collect everything it sends. */
export async function readData(port: number, localAddress?: string): Promise<Buffer> {
  const s = connect({ host: "127.0.0.1", port, ...(localAddress ? { localAddress } : {}) });
  const chunks: Buffer[] = [];
  s.on("data", (c: Buffer) => chunks.push(c));
  await once(s, "close");
  return Buffer.concat(chunks);
}
