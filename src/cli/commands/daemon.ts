import type { Command } from "commander";
import { ConfigError } from "../../config/index.js";
import { Daemon, DatabaseLockedError, loadDaemonConfig, type DaemonOptions, type ResolvedConfig } from "../../daemon/index.js";
import { createLogger, type Logger } from "../../log/index.js";
import { CliError, ExitCode, UsageError } from "../exitCodes.js";
import { notifyReady } from "../sdNotify.js";

/** Load a daemon config; an invalid one is a usage error (exit 2) listing every problem by path. */
export async function loadConfigOrExit(file: string): Promise<ResolvedConfig> {
  try {
    return await loadDaemonConfig(file);
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(err.message, { cause: err });
    throw err;
  }
}

/**
 * Start a daemon and run it until SIGINT/SIGTERM; then stop taking work and give running jobs
 * the grace period. A second signal stops at once (safe: unfinished work stays in the queue).
 */
export async function runDaemonUntilSignal(config: ResolvedConfig, logger: Logger, options: Partial<DaemonOptions> & { onReady?: (d: Daemon) => void } = {}): Promise<void> {
  // Set once the wait below starts (no fatal error comes before start() resolved).
  let fatal: (() => void) | undefined;
  const daemon = new Daemon({ config, logger, ...(options.events ? { events: options.events } : {}), onFatal: () => {
    process.exitCode = ExitCode.Failed;
    fatal?.();
  } });
  try {
    await daemon.start();
  } catch (err) {
    if (err instanceof DatabaseLockedError || isNodeIdInUse(err) || err instanceof ConfigError) throw new UsageError(err.message, { cause: err });
    throw new CliError(`daemon: ${(err as Error).message}`, ExitCode.Failed, { cause: err });
  }
  options.onReady?.(daemon);
  void notifyReady(logger);
  // A last resort, not the fix: every job path catches its own errors (a job that throws is
  // failed or deferred by the worker runner). A rejection that still escapes is a bug; it is
  // logged loudly and the daemon keeps serving the other jobs instead of crash-looping while,
  // say, a disk stays full (issue 12, D4).
  const onUnhandled = (reason: unknown): void => {
    logger.error({ event: "daemon.unhandled-rejection", err: reason }, "BUG: unhandled promise rejection; the daemon keeps running (please report it)");
  };
  process.on("unhandledRejection", onUnhandled);
  const onHangup = onSighup(daemon, config.file, logger);
  process.on("SIGHUP", onHangup);
  await new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      process.removeListener("SIGINT", onSignal);
      process.removeListener("SIGTERM", onSignal);
      const force = (): void => {
        logger.warn({ event: "daemon.forced" }, "second signal: stopping now; unfinished jobs stay queued");
        logger.flush();
        process.exit(ExitCode.Failed);
      };
      process.once("SIGINT", force);
      process.once("SIGTERM", force);
      logger.info({ event: "daemon.signal", signal, graceMs: config.graceMs }, `${signal}: stopping`);
      void daemon.stop().then(resolve, (err: unknown) => {
        logger.error({ err }, "error while stopping");
        resolve();
      });
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    // The daemon cannot go on (it logged why): stop as on a signal, exit code already set.
    fatal = () => {
      process.removeListener("SIGINT", onSignal);
      process.removeListener("SIGTERM", onSignal);
      void daemon.stop().then(resolve, (err: unknown) => {
        logger.error({ err }, "error while stopping");
        resolve();
      });
    };
  });
  process.removeListener("unhandledRejection", onUnhandled);
  process.removeListener("SIGHUP", onHangup);
  logger.flush();
  // Everything is closed; a connect still timing out against a silent server must not keep
  // the process alive past the grace period (its job is safely back in the queue).
  setTimeout(() => process.exit(typeof process.exitCode === "number" ? process.exitCode : ExitCode.Ok), 1000).unref();
}

/**
 * The SIGHUP handler: read the config file again and apply it (Daemon.reload). A file that is
 * invalid or cannot be applied is refused with every problem logged, and the running config
 * stays. Reloads run one after the other.
 */
export function onSighup(daemon: Daemon, file: string, logger: Logger): () => void {
  let last = Promise.resolve();
  const reload = async (): Promise<void> => {
    logger.info({ event: "daemon.signal", signal: "SIGHUP", config: file }, "SIGHUP: reloading the config");
    try {
      const next = await loadDaemonConfig(file);
      await daemon.reload(next);
      if (process.env.FERRY_LOG_LEVEL === undefined) logger.level = next.logLevel;
    } catch (err) {
      const problems = err instanceof ConfigError ? err.problems : [(err as Error).message];
      logger.error({ event: "daemon.reload-refused", config: file, problems }, `config reload refused; the running config stays: ${problems.join("; ")}`);
    }
  };
  return () => {
    last = last.then(reload);
  };
}

/** Register `ferry daemon --config F`. */
export function registerDaemon(program: Command): void {
  program.command("daemon")
    .description("run scheduled mirrors and watched outboxes from a config file until SIGINT/SIGTERM")
    .requiredOption("--config <file>", "YAML or JSON daemon config (see config/ferry.example.yaml)")
    .action(async (flags: { config: string }) => {
      const config = await loadConfigOrExit(flags.config);
      const logger = createLogger({ level: process.env.FERRY_LOG_LEVEL ?? config.logLevel });
      await runDaemonUntilSignal(config, logger);
    });
}

/** NodeIdInUseError, by name: importing the class would load pg into every daemon (src/daemon/fleet.ts). */
function isNodeIdInUse(err: unknown): err is Error {
  return err instanceof Error && err.name === "NodeIdInUseError";
}
