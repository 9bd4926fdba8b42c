import { mkdir, readFile } from "node:fs/promises";
import { parseListen, parsePortRange, type ServerConfig } from "../config/index.js";
import type { Logger } from "../log/index.js";
import { Authenticator, FtpServer, type ServerTlsOptions } from "../server/index.js";

/** The daemon's embedded FTP server, listening. */
export interface EmbeddedServer {
  readonly host: string;
  readonly port: number;
  /** Stops it, letting transfers finish for up to graceMs. */
  close(graceMs: number): Promise<void>;
}

/** Start the `server:` section of a daemon config (its root is created if missing). */
export async function startEmbeddedServer(cfg: ServerConfig, logger: Logger): Promise<EmbeddedServer> {
  const listen = parseListen(cfg.listen);
  if (!listen) throw new Error(`server.listen: expected host:port, not ${JSON.stringify(cfg.listen)}`);
  await mkdir(cfg.root, { recursive: true });
  const authenticator = await Authenticator.create({ root: cfg.root, users: cfg.users, anonymous: cfg.anonymous });
  const tls = cfg.tls ? await loadTls(cfg.tls) : undefined;
  const server = new FtpServer({
    authenticator, host: listen.host, port: listen.port, limits: cfg.limits, logger: logger.child({ component: "server" }),
    ...(cfg.pasv.ports ? { pasvPorts: parsePortRange(cfg.pasv.ports)! } : {}), ...(cfg.pasv.address ? { pasvAddress: cfg.pasv.address } : {}),
    ...(tls ? { tls } : {}),
  });
  let port: number;
  try {
    port = await server.listen();
  } catch (err) {
    throw new Error(`server: cannot listen on ${cfg.listen}: ${(err as Error).message}`, { cause: err });
  }
  return { host: listen.host, port, close: (graceMs) => server.close(graceMs) };
}

/** Read the certificate and key of `server.tls` (paths already absolute) into server TLS options. */
async function loadTls(tls: NonNullable<ServerConfig["tls"]>): Promise<ServerTlsOptions> {
  const read = (path: string, field: string): Promise<Buffer> =>
    readFile(path).catch((err: NodeJS.ErrnoException) => {
      throw new Error(`server.tls.${field}: cannot read ${path} (${err.code ?? err.message}): check the path`, { cause: err });
    });
  const [cert, key] = await Promise.all([read(tls.cert, "cert"), read(tls.key, "key")]);
  return {
    cert, key, requireLogin: tls.requireLogin, requireData: tls.requireData, requireSessionReuse: tls.requireSessionReuse,
    ...(tls.implicitPort !== undefined ? { implicitPort: tls.implicitPort } : {}),
  };
}
