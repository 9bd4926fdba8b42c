import { readdirSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { extname, join } from "node:path";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { dashboardDir } from "./dashboardDir.js";

/** Content types of the kinds of file a dashboard without a build step ships. */
const CONTENT_TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".json": "application/json; charset=utf-8",
};

/** The Content-Security-Policy of the dashboard's pages: its own scripts and the API, nothing else. */
export const DASHBOARD_CSP = "default-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'";

/**
 * Serves the dashboard: `/` is its index.html, and each file of the dashboard folder is
 * `/dashboard/NAME` (the folder is flat and listed once at start; a name is never taken from
 * the URL, so no path can leave it). A file is read when asked for, so an idle daemon holds
 * none; a weak ETag from size and mtime lets the browser revalidate with a 304. This replaces
 * @fastify/static, which an idle daemon paid for in resident memory (bench/README.md) to serve
 * three files.
 */
export function registerDashboard(app: FastifyInstance): void {
  const dir = dashboardDir();
  const names = readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isFile() && Object.hasOwn(CONTENT_TYPES, extname(e.name)))
    .map((e) => e.name);
  for (const name of names) app.get(`/dashboard/${name}`, serveFile(join(dir, name)));
  app.get("/", serveFile(join(dir, "index.html")));
}

/** A handler sending one file with its content type, the dashboard's CSP and an ETag. */
function serveFile(path: string) {
  const type = CONTENT_TYPES[extname(path)]!;
  return async (req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const st = await stat(path);
    const etag = `W/"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
    void reply.header("content-security-policy", DASHBOARD_CSP).header("etag", etag).header("last-modified", st.mtime.toUTCString());
    if (req.headers["if-none-match"] === etag) return reply.code(304).send();
    return reply.type(type).send(await readFile(path));
  };
}
