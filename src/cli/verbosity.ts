/**
 * The global -v/-vv/-q flags (rclone's): they set the log level of every command and, for
 * -q, silence progress output. Given flags win over FERRY_LOG_LEVEL; without them the
 * environment (or the command's own default) decides.
 */

/** The global flags as commander hands them over. */
export interface VerbosityFlags {
  verbose?: number;
  quiet?: boolean;
}

let quiet = false;

/** Count repeated -v: commander calls this once per occurrence (-vv counts twice). */
export function countVerbose(_value: unknown, previous: number | undefined): number {
  return (previous ?? 0) + 1;
}

/** The log level the flags ask for, or undefined when none was given. */
export function levelFromFlags(flags: VerbosityFlags): string | undefined {
  if (flags.quiet) return "error";
  if ((flags.verbose ?? 0) >= 2) return "debug";
  if ((flags.verbose ?? 0) === 1) return "info";
  return undefined;
}

/**
 * Apply the flags for this run: the level goes into FERRY_LOG_LEVEL, which every command's
 * logger already reads, so the override reaches loggers created deep inside (server, daemon).
 */
export function applyVerbosity(flags: VerbosityFlags, env: NodeJS.ProcessEnv = process.env): void {
  const level = levelFromFlags(flags);
  if (level !== undefined) env.FERRY_LOG_LEVEL = level;
  quiet = flags.quiet === true;
}

/** True when -q was given: no progress display, no success summary. */
export function isQuiet(): boolean {
  return quiet;
}
