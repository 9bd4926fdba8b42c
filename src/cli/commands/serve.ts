import { dirname, join, resolve } from "node:path";
import { mkdir, readFile, stat } from "node:fs/promises";
import { Option, type Command } from "commander";
import type { ServerConfig } from "../../config/index.js";
import { createLogger } from "../../log/index.js";
import {
  Authenticator, FtpServer, generateSelfSignedCert, PasswordHashError, type ServerLimits, type ServerTlsOptions, type UserSpec,
} from "../../server/index.js";
import { UsageError } from "../exitCodes.js";
import { notifyReady } from "../sdNotify.js";
import { listenHint } from "../hints.js";

/** Flags of `ferry serve`, as commander hands them over. */
interface ServeFlags {
  config?: string;
  root?: string;
  host?: string;
  port?: string;
  user: string[];
  anonymous?: true | string;
  pasvPorts?: string;
  pasvAddress?: string;
  shutdownGrace?: string;
  loginTimeout?: string;
  maxUnauthenticated?: string;
  maxUnauthenticatedPerAddress?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsSelfSigned?: string;
  implicitTlsPort?: string;
  tlsRequireLogin?: true;
  tlsRequireData?: true;
  tlsSessionReuse?: string;
}

/** How to make a certificate by hand; shown by `ferry serve --help`. */
const TLS_HELP = `
TLS (FTPS):
  --tls-cert/--tls-key enable AUTH TLS on --port; --implicit-tls-port adds implicit TLS (ftps://).
  Make a certificate for a name clients will use, e.g. with openssl:
    openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj /CN=files.example \\
      -addext subjectAltName=DNS:files.example,IP:127.0.0.1 -keyout key.pem -out cert.pem
  (a certificate from your CA or Let's Encrypt is better). --tls-self-signed DIR does the above
  into DIR for loopback tests only: clients must then trust DIR/cert.pem (ferry --ca, curl --cacert).`;

/** Parse one --user NAME:PASS[:ro] (a trailing ":ro" or ":rw" is the mode; the password may hold colons). */
export function parseUserFlag(text: string): UserSpec {
  const first = text.indexOf(":");
  if (first <= 0) throw new UsageError(`--user ${JSON.stringify(text.split(":")[0])}: expected NAME:PASS or NAME:PASS:ro`);
  const name = text.slice(0, first);
  let password = text.slice(first + 1);
  let readOnly = false;
  if (/:r[ow]$/.test(password)) {
    readOnly = password.endsWith(":ro");
    password = password.slice(0, -3);
  }
  if (password === "") throw new UsageError(`--user ${name}: empty password; expected NAME:PASS or NAME:PASS:ro`);
  if (/\s/.test(name)) throw new UsageError(`--user ${JSON.stringify(name)}: a user name cannot contain spaces`);
  return { name, password, readOnly };
}

function parsePortFlag(text: string, flag = "--port"): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) throw new UsageError(`${flag} ${text}: expected a port number 0-65535`);
  return Number(text);
}

function parseCount(text: string, flag: string): number {
  if (!/^\d{1,6}$/.test(text) || Number(text) < 1) throw new UsageError(`${flag} ${text}: expected a whole number of at least 1`);
  return Number(text);
}

function parseAnonymous(v: true | string | undefined, fromConfig: false | "ro" | "rw"): false | "ro" | "rw" {
  if (v === undefined) return fromConfig;
  if (v === true || v === "ro") return "ro";
  if (v === "rw") return "rw";
  throw new UsageError(`--anonymous=${v}: expected --anonymous, --anonymous=ro or --anonymous=rw`);
}

// The config module pulls in zod, yaml and node-cron (~10 MiB resident): a plain
// `serve --root --user` never needs it, so it loads only for the flags that do.
const configModule = () => import("../../config/index.js");

async function loadServerSection(file: string): Promise<ServerConfig> {
  const { ConfigError, loadConfigFile, serveFileSchema } = await configModule();
  try {
    const cfg = (await loadConfigFile(file, serveFileSchema)).server;
    // Relative paths in a config file are relative to the file, not to the shell's cwd.
    const base = dirname(resolve(file));
    return {
      ...cfg, root: resolve(base, cfg.root), users: cfg.users.map((u) => (u.root ? { ...u, root: resolve(base, u.root) } : u)),
      ...(cfg.tls ? { tls: { ...cfg.tls, cert: resolve(base, cfg.tls.cert), key: resolve(base, cfg.tls.key) } } : {}),
    };
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(err.message, { cause: err });
    throw err;
  }
}

/** Merge the config file (if any) and the flags; flags win. */
async function buildOptions(flags: ServeFlags) {
  const cfg = flags.config ? await loadServerSection(flags.config) : undefined;
  const root = flags.root ? resolve(flags.root) : cfg?.root;
  if (!root) throw new UsageError("no root directory: pass --root DIR or set server.root in the --config file");
  const st = await stat(root).catch(() => undefined);
  if (!st?.isDirectory()) throw new UsageError(`root ${root} is not an existing directory: create it or pass another --root`);
  const listen = cfg ? (await configModule()).parseListen(cfg.listen) : undefined;
  const host = flags.host ?? listen?.host ?? "127.0.0.1";
  const port = flags.port !== undefined ? parsePortFlag(flags.port) : listen?.port ?? 2121;
  let pasvPorts: [number, number] | undefined;
  const pasvText = flags.pasvPorts ?? cfg?.pasv.ports;
  if (pasvText !== undefined) {
    pasvPorts = (await configModule()).parsePortRange(pasvText);
    if (!pasvPorts) throw new UsageError(`--pasv-ports ${pasvText}: expected LO-HI within 1024-65535, e.g. 50000-50100`);
  }
  const pasvAddress = flags.pasvAddress ?? cfg?.pasv.address;
  if (pasvAddress !== undefined && !/^\d{1,3}(\.\d{1,3}){3}$/.test(pasvAddress)) {
    throw new UsageError(`--pasv-address ${pasvAddress}: expected an IPv4 address (PASV replies carry IPv4 only)`);
  }
  const users: UserSpec[] = [...(cfg?.users ?? []), ...flags.user.map(parseUserFlag)];
  const anonymous = parseAnonymous(flags.anonymous, cfg?.anonymous ?? false);
  if (users.length === 0 && anonymous === false) {
    throw new UsageError("no users: pass --user NAME:PASS (repeatable), --anonymous, or users in the --config file");
  }
  const limits: { -readonly [K in keyof ServerLimits]?: ServerLimits[K] } = { ...cfg?.limits };
  if (flags.shutdownGrace !== undefined) {
    if (!/^\d+(\.\d+)?$/.test(flags.shutdownGrace)) throw new UsageError(`--shutdown-grace ${flags.shutdownGrace}: expected seconds, e.g. 10`);
    limits.shutdownGraceMs = Math.round(Number(flags.shutdownGrace) * 1000);
  }
  if (flags.loginTimeout !== undefined) {
    if (!/^\d+(\.\d+)?$/.test(flags.loginTimeout) || Number(flags.loginTimeout) <= 0) {
      throw new UsageError(`--login-timeout ${flags.loginTimeout}: expected seconds above 0, e.g. 30`);
    }
    limits.loginTimeoutMs = Math.round(Number(flags.loginTimeout) * 1000);
  }
  if (flags.maxUnauthenticated !== undefined) limits.maxUnauthenticated = parseCount(flags.maxUnauthenticated, "--max-unauthenticated");
  if (flags.maxUnauthenticatedPerAddress !== undefined) {
    limits.maxUnauthenticatedPerAddress = parseCount(flags.maxUnauthenticatedPerAddress, "--max-unauthenticated-per-address");
  }
  const tls = await buildTls(flags, cfg);
  return { root, host, port, pasvPorts, pasvAddress, users, anonymous, limits, tls };
}

async function readPem(file: string, what: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    throw new UsageError(`${what} ${file}: ${(err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (err as Error).message}`, { cause: err });
  }
}

/** The TLS options from flags and config (flags win); undefined when TLS is off. */
async function buildTls(flags: ServeFlags, cfg: ServerConfig | undefined): Promise<ServerTlsOptions | undefined> {
  const cfgTls = cfg?.tls;
  if (flags.tlsSelfSigned !== undefined && (flags.tlsCert !== undefined || flags.tlsKey !== undefined)) {
    throw new UsageError("--tls-self-signed makes its own certificate: drop --tls-cert/--tls-key, or drop --tls-self-signed");
  }
  let cert: Buffer | undefined;
  let key: Buffer | undefined;
  if (flags.tlsSelfSigned !== undefined) {
    ({ cert, key } = await selfSigned(resolve(flags.tlsSelfSigned)));
  } else {
    const certFile = flags.tlsCert ?? cfgTls?.cert;
    const keyFile = flags.tlsKey ?? cfgTls?.key;
    if ((certFile === undefined) !== (keyFile === undefined)) throw new UsageError("TLS needs both --tls-cert FILE and --tls-key FILE (or server.tls.cert and key)");
    if (certFile !== undefined && keyFile !== undefined) {
      cert = await readPem(certFile, "--tls-cert");
      key = await readPem(keyFile, "--tls-key");
    }
  }
  const policyFlags = [flags.implicitTlsPort, flags.tlsRequireLogin, flags.tlsRequireData, flags.tlsSessionReuse].some((f) => f !== undefined);
  if (!cert || !key) {
    if (policyFlags) throw new UsageError("--implicit-tls-port, --tls-require-* and --tls-session-reuse need a certificate: add --tls-cert FILE --tls-key FILE");
    return undefined;
  }
  const reuse = flags.tlsSessionReuse;
  if (reuse !== undefined && reuse !== "required" && reuse !== "optional") {
    throw new UsageError(`--tls-session-reuse ${reuse}: expected required or optional`);
  }
  const implicitPort = flags.implicitTlsPort !== undefined ? parsePortFlag(flags.implicitTlsPort, "--implicit-tls-port") : cfgTls?.implicitPort;
  return {
    cert, key,
    requireLogin: flags.tlsRequireLogin ?? cfgTls?.requireLogin ?? false,
    requireData: flags.tlsRequireData ?? cfgTls?.requireData ?? false,
    requireSessionReuse: reuse !== undefined ? reuse === "required" : cfgTls?.requireSessionReuse ?? true,
    ...(implicitPort !== undefined ? { implicitPort } : {}),
  };
}

/** The certificate in DIR (cert.pem, key.pem), made with openssl when missing; always with a loud warning. */
async function selfSigned(dir: string): Promise<{ cert: Buffer; key: Buffer }> {
  const certPath = join(dir, "cert.pem");
  const keyPath = join(dir, "key.pem");
  const existing = await Promise.all([readFile(certPath), readFile(keyPath)]).catch(() => undefined);
  let pair: { cert: Buffer; key: Buffer };
  if (existing) {
    pair = { cert: existing[0], key: existing[1] };
  } else {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    try {
      pair = await generateSelfSignedCert(dir);
    } catch (err) {
      throw new UsageError((err as Error).message, { cause: err });
    }
  }
  process.stderr.write(
    `WARNING: ferry serve is using a SELF-SIGNED certificate (${certPath}${existing ? ", reused" : ", just generated"}).\n` +
    "WARNING: clients cannot verify it is really this server; use it only for tests and loopback demos.\n" +
    `WARNING: clients must trust ${certPath} explicitly (ferry --ca ${certPath}, curl --cacert ${certPath}).\n`);
  return pair;
}

/** Run the server until SIGINT/SIGTERM, then shut down gracefully. */
async function serve(flags: ServeFlags): Promise<void> {
  const o = await buildOptions(flags);
  let authenticator: Authenticator;
  try {
    authenticator = await Authenticator.create({ root: o.root, users: o.users, anonymous: o.anonymous });
  } catch (err) {
    if (err instanceof PasswordHashError) throw new UsageError(err.message, { cause: err });
    throw err;
  }
  // A failed listen is both logged by the server and thrown to us: until it listens, the
  // error is printed once, by the CLI, with its hint.
  let listening = false;
  const logger = createLogger({ omit: (msg) => !listening && msg === "server error" });
  let server: FtpServer;
  try {
    server = new FtpServer({
      authenticator, host: o.host, port: o.port, logger, limits: o.limits,
      ...(o.pasvPorts ? { pasvPorts: o.pasvPorts } : {}), ...(o.pasvAddress ? { pasvAddress: o.pasvAddress } : {}),
      ...(o.tls ? { tls: o.tls } : {}),
    });
  } catch (err) {
    // A certificate/key that does not load, or users requiring TLS without one.
    throw new UsageError((err as Error).message, { cause: err });
  }
  try {
    await server.listen();
    listening = true;
  } catch (err) {
    const hint = listenHint(err, o.port);
    throw new UsageError(`cannot listen on ${o.host}:${o.port}: ${(err as Error).message}${hint ? `; ${hint}` : ""}`, { cause: err });
  }
  const tls = o.tls && {
    implicitPort: server.implicitPort || undefined, requireLogin: o.tls.requireLogin, requireData: o.tls.requireData,
    requireSessionReuse: o.tls.requireSessionReuse,
  };
  logger.info({ event: "serve.ready", root: o.root, users: o.users.map((u) => u.name), anonymous: o.anonymous, tls: tls ?? "off" }, "ready");
  void notifyReady(logger);
  await new Promise<void>((resolveDone) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      process.removeListener("SIGINT", onSignal);
      process.removeListener("SIGTERM", onSignal);
      // A second signal during the grace period cuts it short.
      const force = (): void => void server.close(0);
      process.once("SIGINT", force);
      process.once("SIGTERM", force);
      logger.info({ event: "serve.signal", signal }, `${signal}: stopping`);
      void server.close().then(() => resolveDone());
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  });
  logger.flush();
}

/** Register `ferry serve`. */
export function registerServe(program: Command): void {
  program.command("serve")
    .description("run ferry's FTP server: users confined to a root, passive/active mode, graceful stop on SIGINT/SIGTERM")
    .option("--config <file>", "YAML/JSON file with a server: section (see config/serve.example.yaml)")
    .option("--root <dir>", "directory to serve (overrides server.root)")
    .option("--host <host>", "address to listen on (default 127.0.0.1)")
    .option("--port <n>", "port to listen on (default 2121; 0 picks a free one)")
    .option("--user <name:pass[:ro]>", "a user (repeatable); add :ro for read-only. Prefer passwordHash in a config for production: arguments show in ps", (v: string, acc: string[]) => [...acc, v], [] as string[])
    .addOption(new Option("--anonymous [mode]", "allow anonymous login: ro (default) or rw"))
    .option("--pasv-ports <lo-hi>", "passive port range, e.g. 50000-50100")
    .option("--pasv-address <ipv4>", "address advertised in PASV replies (behind NAT)")
    .option("--shutdown-grace <seconds>", "on SIGINT/SIGTERM, let transfers finish this long (default 10)")
    .option("--login-timeout <seconds>", "close sessions not logged in this long after connecting (default 30)")
    .option("--max-unauthenticated <n>", "sessions waiting to log in, in all (default 128)")
    .option("--max-unauthenticated-per-address <n>", "sessions waiting to log in, per client address (default 10)")
    .option("--tls-cert <file>", "PEM certificate: enables AUTH TLS (explicit FTPS) on --port")
    .option("--tls-key <file>", "PEM private key of --tls-cert")
    .option("--tls-self-signed <dir>", "use DIR/cert.pem and key.pem, generating a self-signed pair with openssl if missing (tests only; prints a warning)")
    .option("--implicit-tls-port <n>", "also listen for implicit TLS (ftps://) on this port (990 by convention; 0 picks a free one)")
    .option("--tls-require-login", "refuse logins without AUTH TLS (530)")
    .option("--tls-require-data", "refuse transfers and listings without PROT P (521)")
    .option("--tls-session-reuse <mode>", "required (default): data connections must resume the control TLS session; optional")
    .addHelpText("after", TLS_HELP)
    .action(async (flags: ServeFlags) => serve(flags));
}
