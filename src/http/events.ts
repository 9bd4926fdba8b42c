import type { FastifyInstance } from "fastify";
import type { DaemonEvent } from "../daemon/activity.js";
import type { DaemonOperations } from "../daemon/operations.js";

/** A comment line every so often keeps proxies and NAT from closing an idle stream. */
const KEEPALIVE_MS = 15_000;
/** How often running runs' progress goes out while any run. */
const PROGRESS_MS = 1000;

/**
 * GET /api/v1/events: Server-Sent Events of job and transfer events (`event: TYPE`, `data:
 * JSON`), plus a `progress` event each second while runs are in progress. A browser reads it
 * with fetch (EventSource cannot send the Authorization header an exposed listen needs).
 */
export function registerEvents(app: FastifyInstance, ops: DaemonOperations, scrub: (text: string) => string): void {
  app.get("/api/v1/events", (req, reply) => {
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      "x-content-type-options": "nosniff",
      connection: "keep-alive",
    });
    const send = (type: string, data: unknown): void => {
      res.write(`event: ${type}\ndata: ${scrub(JSON.stringify(data))}\n\n`);
    };
    res.write("retry: 3000\n\n");
    send("hello", { at: new Date().toISOString(), running: ops.activity.running() });
    const unsubscribe = ops.activity.subscribe((e: DaemonEvent) => send(e.type, e));
    const keepalive = setInterval(() => res.write(": keepalive\n\n"), KEEPALIVE_MS);
    const progress = setInterval(() => {
      const running = ops.activity.running();
      if (running.length > 0) send("progress", { at: new Date().toISOString(), running });
    }, PROGRESS_MS);
    keepalive.unref();
    progress.unref();
    const close = (): void => {
      unsubscribe();
      clearInterval(keepalive);
      clearInterval(progress);
    };
    req.raw.on("close", close);
    res.on("error", close);
  });
}
