import { dirname, resolve } from "node:path";
import { stat } from "node:fs/promises";
import { Option, type Command } from "commander";
import { ConfigError, loadConfigFile, parseListen, parsePortRange, serveFileSchema, type ServerConfig } from "../../config/index.js";
import { createLogger } from "../../log/index.js";
import { Authenticator, FtpServer, PasswordHashError, type ServerLimits, type UserSpec } from "../../server/index.js";
import { UsageError } from "../exitCodes.js";

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
}

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

function parsePortFlag(text: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) throw new UsageError(`--port ${text}: expected a port number 0-65535`);
  return Number(text);
}

function parseAnonymous(v: true | string | undefined, fromConfig: false | "ro" | "rw"): false | "ro" | "rw" {
  if (v === undefined) return fromConfig;
  if (v === true || v === "ro") return "ro";
  if (v === "rw") return "rw";
  throw new UsageError(`--anonymous=${v}: expected --anonymous, --anonymous=ro or --anonymous=rw`);
}

async function loadServerSection(file: string): Promise<ServerConfig> {
  try {
    const cfg = (await loadConfigFile(file, serveFileSchema)).server;
    // Relative paths in a config file are relative to the file, not to the shell's cwd.
    const base = dirname(resolve(file));
    return { ...cfg, root: resolve(base, cfg.root), users: cfg.users.map((u) => (u.root ? { ...u, root: resolve(base, u.root) } : u)) };
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
  const listen = cfg ? parseListen(cfg.listen) : undefined;
  const host = flags.host ?? listen?.host ?? "127.0.0.1";
  const port = flags.port !== undefined ? parsePortFlag(flags.port) : listen?.port ?? 2121;
  let pasvPorts: [number, number] | undefined;
  const pasvText = flags.pasvPorts ?? cfg?.pasv.ports;
  if (pasvText !== undefined) {
    pasvPorts = parsePortRange(pasvText);
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
  return { root, host, port, pasvPorts, pasvAddress, users, anonymous, limits };
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
  const logger = createLogger();
  const server = new FtpServer({
    authenticator, host: o.host, port: o.port, logger, limits: o.limits,
    ...(o.pasvPorts ? { pasvPorts: o.pasvPorts } : {}), ...(o.pasvAddress ? { pasvAddress: o.pasvAddress } : {}),
  });
  try {
    await server.listen();
  } catch (err) {
    throw new UsageError(`cannot listen on ${o.host}:${o.port}: ${(err as Error).message}`, { cause: err });
  }
  logger.info({ event: "serve.ready", root: o.root, users: o.users.map((u) => u.name), anonymous: o.anonymous }, "ready");
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
    .action(async (flags: ServeFlags) => serve(flags));
}
