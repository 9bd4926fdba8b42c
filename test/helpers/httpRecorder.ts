import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** One request the recorder received. */
export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  /** The raw body, exactly as sent (what an HMAC covers). */
  readonly body: string;
}

/**
 * A loopback HTTP server that records every request and answers with `status(request, n)`
 * (n counts from 1 per path); 200 by default. For webhook and ping tests.
 */
export class HttpRecorder {
  readonly requests: RecordedRequest[] = [];
  status: (req: RecordedRequest, n: number) => number = () => 200;
  readonly #server: Server;
  readonly #counts = new Map<string, number>();
  port = 0;

  constructor() {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const r: RecordedRequest = { method: req.method ?? "", path: req.url ?? "", headers: req.headers, body: Buffer.concat(chunks).toString("utf8") };
        this.requests.push(r);
        const n = (this.#counts.get(r.path) ?? 0) + 1;
        this.#counts.set(r.path, n);
        res.statusCode = this.status(r, n);
        res.end("recorded");
      });
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, "127.0.0.1", resolve));
    this.port = (this.#server.address() as AddressInfo).port;
    return this;
  }

  /** http://127.0.0.1:PORT + path. */
  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  /** The requests to one path, in arrival order. */
  to(path: string): RecordedRequest[] {
    return this.requests.filter((r) => r.path === path);
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
