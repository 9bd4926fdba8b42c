import type { Logger } from "pino";
import { Authenticator, FtpServer, type ServerLimits, type ServerTlsOptions } from "../../src/server/index.js";
import { tempDir } from "./tmp.js";

/** A user of a test server (plain password; hashed in memory by the Authenticator). */
export interface TestUser {
  readonly name: string;
  readonly password: string;
  readonly readOnly?: boolean;
  /** Own root directory; default the server's temp root. */
  readonly root?: string;
  /** Per-user TLS rules (need `tls`). */
  readonly requireTlsLogin?: boolean;
  readonly requireTlsData?: boolean;
}

/** Options of startFerryServer; every field is optional. */
export interface FerryServerOptions {
  /** Default: one read-write user "user" with password "pass". */
  readonly users?: readonly TestUser[];
  /** Anonymous login: off by default. */
  readonly anonymous?: false | "ro" | "rw";
  /** Root directory; default a fresh temp directory, removed by close(). */
  readonly root?: string;
  /** Listen address; default 127.0.0.1. */
  readonly host?: string;
  readonly limits?: Partial<ServerLimits>;
  readonly pasvPorts?: readonly [number, number];
  readonly pasvAddress?: string;
  /** TLS (cert and key PEM contents plus policy); `implicitPort: 0` adds an implicit-TLS listener on a free port. Default: none. */
  readonly tls?: ServerTlsOptions;
  /** Default: silent. */
  readonly logger?: Logger;
}

/** A running in-process ferry server on an ephemeral loopback port. */
export interface RunningFerryServer {
  readonly host: string;
  readonly port: number;
  /** The implicit-TLS port, 0 when the server has none. */
  readonly implicitPort: number;
  /** The server's root directory (the users' root unless they have their own). */
  readonly root: string;
  readonly users: readonly TestUser[];
  readonly server: FtpServer;
  /**
   * "ftp://user:pass@127.0.0.1:port" for `user` (default the first user); `scheme` "ftpes"
   * keeps the port, "ftps" uses the implicit port.
   */
  url(user?: TestUser, scheme?: "ftp" | "ftpes" | "ftps"): string;
  /** Stop the server (no grace period) and remove the temp root it created. */
  close(): Promise<void>;
}

/** The default test user. */
export const DEFAULT_TEST_USER: TestUser = { name: "user", password: "pass" };

/**
 * Start ferry's FTP server in-process on `host` (default 127.0.0.1), port 0, with a temp
 * root and the given users. Other suites use this to test the client against our server.
 */
export async function startFerryServer(options: FerryServerOptions = {}): Promise<RunningFerryServer> {
  const tmp = options.root === undefined ? await tempDir("ferry-server-") : undefined;
  const root = options.root ?? tmp!.path;
  const users = options.users ?? [DEFAULT_TEST_USER];
  const authenticator = await Authenticator.create({
    root,
    anonymous: options.anonymous ?? false,
    users: users.map((u) => ({
      name: u.name, password: u.password, readOnly: u.readOnly ?? false, ...(u.root ? { root: u.root } : {}),
      ...(u.requireTlsLogin ? { requireTlsLogin: true } : {}), ...(u.requireTlsData ? { requireTlsData: true } : {}),
    })),
  });
  const host = options.host ?? "127.0.0.1";
  const server = new FtpServer({
    authenticator, host, port: 0,
    ...(options.limits ? { limits: options.limits } : {}),
    ...(options.pasvPorts ? { pasvPorts: options.pasvPorts } : {}),
    ...(options.pasvAddress ? { pasvAddress: options.pasvAddress } : {}),
    ...(options.tls ? { tls: options.tls } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
  });
  const port = await server.listen();
  const implicitPort = server.implicitPort;
  const hostInUrl = host.includes(":") ? `[${host}]` : host;
  return {
    host, port, implicitPort, root, users, server,
    url: (user = users[0] ?? DEFAULT_TEST_USER, scheme = "ftp") =>
      `${scheme}://${encodeURIComponent(user.name)}:${encodeURIComponent(user.password)}@${hostInUrl}:${scheme === "ftps" ? implicitPort : port}`,
    close: async () => {
      await server.close(0);
      await tmp?.remove();
    },
  };
}
