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
  /**
   * Messages not to log because the command prints them itself (a one-shot command's
   * summary already says "restarted from byte 0"): a person then sees each warning once.
   */
  omit?: (msg: string) => boolean;
}

/**
 * Paths pino replaces with "[redacted]" wherever they appear: the single choke point that
 * keeps secrets out of logs (README, "Safety rules": passwords never appear in logs).
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

/**
 * A pino logger, secrets redacted. On a TTY one pretty line per event (fields inline, no
 * pid/hostname/app); otherwise JSON lines with an ISO-8601 `time` and the level's name, the
 * form journald, Loki and other log shippers read without a pino-specific mapping.
 */
export function createLogger(options: LogOptions = {}): Logger {
  const level = options.level ?? process.env.FERRY_LOG_LEVEL ?? "info";
  const fd = options.destination ?? 2;
  const pretty = options.pretty ?? (fd === 2 && process.stderr.isTTY === true);
  const omit = options.omit;
  const base: LoggerOptions = {
    level,
    base: { app: "ferry" },
    redact: { paths: REDACT_PATHS, censor: "[redacted]" },
    ...(omit ? {
      hooks: {
        logMethod(args, method) {
          // pino's call shapes: (msg, ...) or (obj, msg, ...).
          const msg = typeof args[0] === "string" ? args[0] : args[1];
          if (typeof msg === "string" && omit(msg)) return;
          method.apply(this, args);
        },
      },
    } : {}),
  };
  if (pretty) {
    return pino({
      ...base,
      transport: {
        target: "pino-pretty",
        options: { destination: fd, colorize: true, singleLine: true, ignore: "pid,hostname,app", translateTime: "SYS:HH:MM:ss.l",
          // pino-pretty prints `err` fields as multi-line blocks even in single-line mode; inline they stay one line.
          errorLikeObjectKeys: [] },
      },
    });
  }
  return pino({
    ...base,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  }, pino.destination({ dest: fd, sync: false }));
}

/** A logger that drops everything, for library callers and tests that want silence. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
