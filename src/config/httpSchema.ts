import { isIP } from "node:net";
import { z } from "zod";
import { parseListen } from "./serverSchema.js";

/** The HTTP surface's default address: loopback only, Syncthing's GUI port. */
export const DEFAULT_HTTP_LISTEN = "127.0.0.1:8384";

/** The shortest bearer token accepted: a guessable token on a network port is no protection. */
export const MIN_TOKEN_LENGTH = 16;

/** Whether a listen host is a loopback address (127.0.0.0/8, ::1, localhost): reachable only from this machine. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  if (h === "localhost" || h === "::1" || h === "0:0:0:0:0:0:0:1") return true;
  if (isIP(h) === 4) return h.startsWith("127.");
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h);
  return mapped !== null && mapped[1]!.startsWith("127.");
}

/**
 * The daemon's HTTP surface (README, "Watching a fleet"): JSON API, /metrics,
 * health and the dashboard. Off when the section is absent. The token is checked here so a
 * non-loopback listen without one is refused at start with the fix in the message.
 */
export const httpSchema = z.strictObject({
  listen: z.string().default(DEFAULT_HTTP_LISTEN)
    .describe(`HOST:PORT of the HTTP API, metrics and dashboard; default ${DEFAULT_HTTP_LISTEN} (loopback only; port 0 picks a free one)`),
  token: z.string().optional()
    .describe(`bearer token (normally "\${FERRY_HTTP_TOKEN}", at least ${MIN_TOKEN_LENGTH} characters): required for every action, and for every request when listen is not loopback`),
}).superRefine((http, ctx) => {
  const addr = parseListen(http.listen);
  if (!addr || (isIP(addr.host) === 0 && addr.host !== "localhost")) {
    ctx.addIssue({ code: "custom", path: ["listen"], message: `expected HOST:PORT with an IP address (e.g. "${DEFAULT_HTTP_LISTEN}", "[::1]:8384", "0.0.0.0:8384"), not ${JSON.stringify(http.listen)}` });
    return;
  }
  if (http.token !== undefined && http.token.length < MIN_TOKEN_LENGTH) {
    ctx.addIssue({ code: "custom", path: ["token"], message: `too short (${http.token.length} characters): use at least ${MIN_TOKEN_LENGTH}, e.g. FERRY_HTTP_TOKEN=$(openssl rand -hex 24)` });
  }
  if (http.token === undefined && !isLoopbackHost(addr.host)) {
    ctx.addIssue({ code: "custom", path: ["token"], message: `required when http.listen (${http.listen}) is not a loopback address: set token: "\${FERRY_HTTP_TOKEN}" and export FERRY_HTTP_TOKEN=$(openssl rand -hex 24), or listen on 127.0.0.1` });
  }
});

/** A validated http section. */
export type HttpConfig = z.output<typeof httpSchema>;
