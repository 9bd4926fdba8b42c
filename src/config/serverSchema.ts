import { isIP } from "node:net";
import { z } from "zod";

/** Parse "host:port" or "[v6]:port" into its parts, or undefined when malformed. */
export function parseListen(text: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(text.trim());
  const host = m?.[1] ?? m?.[2];
  const port = Number(m?.[3]);
  if (!host || !Number.isInteger(port) || port > 65535) return undefined;
  return { host, port };
}

/** Parse a passive port range "LO-HI" (1024-65535, LO <= HI), or undefined. */
export function parsePortRange(text: string): [number, number] | undefined {
  const m = /^(\d{1,5})-(\d{1,5})$/.exec(text.trim());
  if (!m) return undefined;
  const lo = Number(m[1]);
  const hi = Number(m[2]);
  return lo >= 1024 && hi <= 65535 && lo <= hi ? [lo, hi] : undefined;
}

const ms = (what: string, dflt: string) => z.number().int().positive().describe(`${what} in milliseconds; default ${dflt}`);

/** One server user; the password is stored only as a hash. */
export const serverUserSchema = z.strictObject({
  name: z.string().regex(/^[^\s:]+$/, "a user name has no spaces or colons").describe("login name"),
  passwordHash: z.string().regex(/^scrypt\$\d+\$\d+\$\d+\$[^$]+\$[^$]+$/, "must be an scrypt hash: create one with `ferry hash-password`")
    .describe("scrypt hash printed by `ferry hash-password` (never the password itself)"),
  root: z.string().min(1).optional().describe("this user's own root directory; default the server root"),
  readOnly: z.boolean().default(false).describe("when true, every write command gets 550"),
  requireTlsLogin: z.boolean().default(false).describe("refuse this user's login without TLS (needs server.tls); default false"),
  requireTlsData: z.boolean().default(false).describe("refuse this user's transfers without PROT P (needs server.tls); default false"),
});

/** The `server.tls:` section: certificate, key, implicit port and the TLS policy (RFC 4217). */
export const serverTlsSchema = z.strictObject({
  cert: z.string().min(1).describe("PEM certificate (chain) file; relative to the config file"),
  key: z.string().min(1).describe("PEM private key file; relative to the config file"),
  implicitPort: z.number().int().min(0).max(65535).optional().describe("port of an implicit-TLS listener (990 by convention); default none"),
  requireLogin: z.boolean().default(false).describe("refuse USER without AUTH TLS, for every user (vsftpd force_local_logins_ssl); default false"),
  requireData: z.boolean().default(false).describe("refuse transfers and listings without PROT P, for every user (vsftpd force_local_data_ssl); default false"),
  requireSessionReuse: z.boolean().default(true)
    .describe("refuse PROT P data connections that do not resume the control connection's TLS session (vsftpd require_ssl_reuse); default true"),
});

/** Server limits; each field overrides one default of DEFAULT_LIMITS. */
export const serverLimitsSchema = z.strictObject({
  maxLineLength: z.number().int().min(512).max(1 << 20).optional().describe("longest command line in bytes; default 4096"),
  maxConnections: z.number().int().positive().optional().describe("control connections in all; default 256"),
  maxConnectionsPerAddress: z.number().int().positive().optional().describe("control connections per client address; default 32"),
  idleTimeoutMs: ms("idle time before a session is closed", "300000 (5 min)").optional(),
  loginTimeoutMs: ms("time from connect to a successful login (commands do not extend it)", "30000").optional(),
  maxUnauthenticated: z.number().int().positive().optional()
    .describe("sessions not yet logged in, in all (keep it below maxConnections); default 128"),
  maxUnauthenticatedPerAddress: z.number().int().positive().optional().describe("sessions not yet logged in per client address; default 10"),
  dataTimeoutMs: ms("time to open a data connection (also how long a PASV listener waits), and longest stall in a transfer", "30000").optional(),
  loginFailureDelayMs: z.number().int().min(0).optional().describe("delay before answering a failed login, in ms; default 1000"),
  maxLoginFailures: z.number().int().positive().optional().describe("failed logins before disconnect; default 3"),
  shutdownGraceMs: z.number().int().min(0).optional().describe("on SIGINT/SIGTERM, time running transfers get to finish, in ms; default 10000"),
});

/** The `server:` section: what `ferry serve --config` (and later the daemon) reads. */
export const serverSchema = z.strictObject({
  listen: z.string().default("127.0.0.1:2121")
    .refine((s) => parseListen(s) !== undefined, "expected host:port, e.g. 127.0.0.1:2121 or [::1]:2121")
    .describe("address and port to listen on; default 127.0.0.1:2121"),
  root: z.string().min(1).describe("directory served to users without their own root, and to anonymous users"),
  users: z.array(serverUserSchema).default([]).describe("users who may log in"),
  anonymous: z.union([z.literal(false), z.enum(["ro", "rw"])]).default(false)
    .describe('anonymous login ("anonymous"/"ftp"): false (default), "ro" or "rw"'),
  pasv: z.strictObject({
    ports: z.string().refine((s) => parsePortRange(s) !== undefined, "expected LO-HI within 1024-65535, e.g. 50000-50100")
      .optional().describe("passive port range LO-HI; default any free port"),
    address: z.string().refine((s) => isIP(s) === 4, "expected an IPv4 address (PASV replies carry IPv4 only)")
      .optional().describe("address advertised in PASV replies when behind NAT; default the local address"),
  }).default({}).describe("passive mode"),
  limits: serverLimitsSchema.default({}).describe("resource limits"),
  tls: serverTlsSchema.optional().describe("FTPS: explicit AUTH TLS on the listen port, implicit TLS on tls.implicitPort; default off"),
}).superRefine((server, ctx) => {
  if (server.tls) return;
  server.users.forEach((u, i) => {
    if (u.requireTlsLogin || u.requireTlsData) {
      ctx.addIssue({ code: "custom", path: ["users", i], message: `user "${u.name}" requires TLS but server.tls is not set: add server.tls (cert, key) or drop requireTls*` });
    }
  });
});

/** A server config as validated (defaults applied). */
export type ServerConfig = z.output<typeof serverSchema>;

/**
 * A file for `ferry serve --config`: a `server:` section; other top-level sections (the
 * daemon's) are allowed so one file can serve both.
 */
export const serveFileSchema = z.looseObject({ server: serverSchema });
