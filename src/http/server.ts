import fastifyStatic from "@fastify/static";
import Fastify, { type FastifyInstance } from "fastify";
import type { DaemonOperations } from "../daemon/operations.js";
import type { Logger } from "../log/index.js";
import { isLoopbackHost } from "../config/index.js";
import { registerApi } from "./api.js";
import { bearerGuard } from "./auth.js";
import { dashboardDir } from "./dashboardDir.js";
import { registerEvents } from "./events.js";
import { createMetrics } from "./metrics.js";
import { createScrubber } from "./scrub.js";

/** Options of the HTTP surface. */
export interface HttpOptions {
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  readonly token?: string;
  readonly logger: Logger;
}

/** A listening HTTP surface. */
export interface HttpServer {
  readonly port: number;
  close(): Promise<void>;
}

/** Request bodies are tiny (actions take none): anything larger is refused with 413 before it is read. */
export const BODY_LIMIT = 16 * 1024;

/** Builds the fastify app: health, metrics, JSON API, event stream and dashboard, behind the bearer guard. */
export async function buildHttpApp(ops: DaemonOperations, options: HttpOptions): Promise<FastifyInstance> {
  // fastify's own logger stays off: ours logs one line per request without headers (the token) or query.
  const app = Fastify({ logger: false, bodyLimit: BODY_LIMIT, forceCloseConnections: true, return503OnClosing: true });
  const log = options.logger.child({ component: "http" });
  const scrub = createScrubber(() => ops.secrets());
  app.addHook("onRequest", bearerGuard({ token: options.token, exposed: !isLoopbackHost(options.host) }));
  app.addHook("onSend", async (req, reply, payload) => {
    void reply.header("x-content-type-options", "nosniff").header("referrer-policy", "no-referrer").header("x-frame-options", "DENY");
    if (req.url.startsWith("/api/") || req.url.startsWith("/metrics")) void reply.header("cache-control", "no-store");
    return typeof payload === "string" ? scrub(payload) : payload;
  });
  app.addHook("onResponse", async (req, reply) => {
    log.debug({ method: req.method, path: req.url.split("?")[0], status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, "http request");
  });
  app.setErrorHandler(async (err: Error & { statusCode?: number }, req, reply) => {
    const code = err.statusCode ?? 500;
    if (code >= 500) log.error({ err, method: req.method, path: req.url.split("?")[0] }, "http request failed");
    return reply.code(code).send({ error: code === 413 ? `request body over ${BODY_LIMIT} bytes` : err.message });
  });
  app.setNotFoundHandler(async (req, reply) => reply.code(404).send({ error: `no ${req.method} ${req.url.split("?")[0]} (the API is under /api/v1/, see the README)` }));

  app.get("/healthz", async () => ({ alive: true }));
  app.get("/readyz", async (_req, reply) => {
    const r = await ops.ready();
    return reply.code(r.ready ? 200 : 503).send(r);
  });
  const registry = createMetrics(ops);
  app.get("/metrics", async (_req, reply) => reply.type(registry.contentType).send(await registry.metrics()));
  registerApi(app, ops);
  registerEvents(app, ops, scrub);
  const csp = "default-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'";
  await app.register(fastifyStatic, { root: dashboardDir(), prefix: "/dashboard/", wildcard: false, cacheControl: false,
    setHeaders: (res) => res.setHeader("content-security-policy", csp) });
  app.get("/", async (_req, reply) => reply.header("content-security-policy", csp).sendFile("index.html"));
  return app;
}

/** Starts the HTTP surface; a port in use or a bad address rejects with the address in the message. */
export async function startHttpServer(ops: DaemonOperations, options: HttpOptions): Promise<HttpServer> {
  const app = await buildHttpApp(ops, options);
  try {
    await app.listen({ host: options.host, port: options.port });
  } catch (err) {
    await app.close();
    throw new Error(`http.listen ${options.host}:${options.port}: ${(err as Error).message}; pick another port in the daemon config`, { cause: err });
  }
  const address = app.server.address();
  const port = typeof address === "object" && address !== null ? address.port : options.port;
  return { port, close: () => app.close() };
}
