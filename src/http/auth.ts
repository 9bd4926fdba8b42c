import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyReply, FastifyRequest } from "fastify";

/** Options of the bearer check. */
export interface AuthOptions {
  /** The configured token; undefined when none is set (loopback only). */
  readonly token: string | undefined;
  /** True when the listen address is not loopback: then every data read needs the token too. */
  readonly exposed: boolean;
}

/** Paths anyone who can connect may read: they reveal nothing (health) or hold no data (the dashboard's files). */
function isPublic(path: string): boolean {
  return path === "/healthz" || path === "/readyz" || path === "/" || path === "/index.html" || path.startsWith("/dashboard/");
}

/** Whether a request must carry the token: every action (anything but GET/HEAD), and every data read on an exposed listen. */
export function needsToken(method: string, path: string, exposed: boolean): boolean {
  if (method !== "GET" && method !== "HEAD") return true;
  return exposed && !isPublic(path);
}

/**
 * Whether `Authorization: Bearer TOKEN` carries the token. Only that header counts: a token in
 * a cookie would be sent by the browser on a forged cross-site request (CSRF), and one in the
 * URL ends up in proxy logs and browser history. Compared in constant time.
 */
export function hasToken(header: string | undefined, token: string | undefined): boolean {
  if (token === undefined || header === undefined) return false;
  const m = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
  if (!m) return false;
  const digest = (s: string) => createHash("sha256").update(s).digest();
  return timingSafeEqual(digest(m[1]!), digest(token));
}

/** The onRequest hook: 401 with the fix when the token is needed and missing or wrong. */
export function bearerGuard(options: AuthOptions) {
  return async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const path = req.url.split("?")[0]!;
    if (!needsToken(req.method, path, options.exposed)) return;
    if (hasToken(req.headers.authorization, options.token)) return;
    const error = options.token === undefined
      ? "this needs the bearer token, and none is configured: set http.token in the daemon config (e.g. \"${FERRY_HTTP_TOKEN}\") and restart"
      : req.headers.authorization === undefined
        ? "missing bearer token: send the header Authorization: Bearer TOKEN (http.token of the daemon config); tokens in cookies or the URL are not accepted"
        : "wrong bearer token";
    await reply.code(401).header("www-authenticate", 'Bearer realm="ferry"').send({ error });
  };
}
