import { pino, type Logger, type LoggerOptions } from "pino";

export type { Logger } from "pino";

/** Options for createLogger. */
export interface LogOptions {
  /** pino level name; default "info", or FERRY_LOG_LEVEL when set. */
  level?: string;
  /** Pretty, human-readable output; default: when stderr is a TTY. */
  pretty?: boolean;
  /** Where the lines go; default stderr, so stdout stays free for results. */
  destination?: number | string;
}

/**
 * Paths pino replaces with "[redacted]" wherever they appear: the single choke point that
 * keeps secrets out of logs (DESIGN.md: passwords never appear in logs).
 */
export const REDACT_PATHS = [
  "password",
  "pass",
  "passwordHash",
  "*.password",
  "*.pass",
  "*.passwordHash",
  "*.*.password",
  "url.password",
  // The HTTP surface's bearer token (issue 14), wherever a config or a request object is logged.
  "token",
  "*.token",
  "*.*.token",
  "authorization",
  "*.authorization",
  "*.*.authorization",
];

/** A pino logger: JSON lines by default, pretty on a TTY; secrets redacted. */
export function createLogger(options: LogOptions = {}): Logger {
  const level = options.level ?? process.env.FERRY_LOG_LEVEL ?? "info";
  const fd = options.destination ?? 2;
  const pretty = options.pretty ?? (fd === 2 && process.stderr.isTTY === true);
  const base: LoggerOptions = {
    level,
    base: { app: "ferry" },
    redact: { paths: REDACT_PATHS, censor: "[redacted]" },
  };
  if (pretty) {
    return pino({ ...base, transport: { target: "pino-pretty", options: { destination: fd, colorize: true } } });
  }
  return pino(base, pino.destination({ dest: fd, sync: false }));
}

/** A logger that drops everything, for library callers and tests that want silence. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
