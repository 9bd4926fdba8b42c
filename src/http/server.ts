import type { FastifyInstance } from "fastify";
import type { DaemonOperations } from "../daemon/operations.js";
import type { Logger } from "../log/index.js";
import { isLoopbackHost } from "../config/index.js";
import { registerApi } from "./api.js";
import { bearerGuard } from "./auth.js";
import { registerDashboard } from "./dashboard.js";
import { registerEvents } from "./events.js";
import { createMetrics } from "./metrics.js";
import { createScrubber } from "./scrub.js";
import { fastify } from "./deps.js";

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
  /** Replace the bearer token (a SIGHUP reload that changed only the token): the next request is checked against it. */
  setToken(token: string | undefined): void;
  close(): Promise<void>;
}

/** Request bodies are tiny (actions take none): anything larger is refused with 413 before it is read. */
export const BODY_LIMIT = 16 * 1024;

/**
 * No route here declares a JSON schema (actions take no body; the config is checked by zod),
 * so fastify gets compilers that refuse one: fastify then never loads ajv and
 * fast-json-stringify, about a hundred modules an idle daemon would carry for nothing.
 */
const NO_SCHEMAS = {
  compilersFactory: {
    buildValidator: () => () => {
      throw new Error("an HTTP route declares a JSON schema, but the daemon's HTTP surface loads no schema validator (src/http/server.ts)");
    },
    buildSerializer: () => () => {
      throw new Error("an HTTP route declares a response schema, but the daemon's HTTP surface loads no schema serializer (src/http/server.ts)");
    },
  },
};

/** Builds the fastify app: health, metrics, JSON API, event stream and dashboard, behind the bearer guard (which reads `auth.token` at each request). */
export async function buildHttpApp(ops: DaemonOperations, options: HttpOptions, auth: { token: string | undefined } = { token: options.token }): Promise<FastifyInstance> {
  // fastify's own logger stays off: ours logs one line per request without headers (the token) or query.
  const app = fastify({ logger: false, bodyLimit: BODY_LIMIT, forceCloseConnections: true, return503OnClosing: true, schemaController: NO_SCHEMAS });
  const log = options.logger.child({ component: "http" });
  const scrub = createScrubber(() => ops.secrets());
  const exposed = !isLoopbackHost(options.host);
  app.addHook("onRequest", bearerGuard({ get token() { return auth.token; }, exposed }));
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
  registerDashboard(app);
  return app;
}

/** Starts the HTTP surface; a port in use or a bad address rejects with the address in the message. */
export async function startHttpServer(ops: DaemonOperations, options: HttpOptions): Promise<HttpServer> {
  const auth = { token: options.token };
  const app = await buildHttpApp(ops, options, auth);
  try {
    await app.listen({ host: options.host, port: options.port });
  } catch (err) {
    await app.close();
    throw new Error(`http.listen ${options.host}:${options.port}: ${(err as Error).message}; pick another port in the daemon config`, { cause: err });
  }
  const address = app.server.address();
  const port = typeof address === "object" && address !== null ? address.port : options.port;
  return { port, setToken: (token) => { auth.token = token; }, close: () => app.close() };
}
