/** Exit codes of the CLI contract (README, "Exit codes"; tested through the CLI). */
export const ExitCode = {
  /** Everything asked for was done. */
  Ok: 0,
  /** Some of the work failed; the failures were printed. */
  Failed: 1,
  /** Bad usage or an invalid config. */
  Usage: 2,
  /** Could not connect or log in. */
  Connection: 3,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** An error that ends the CLI with a given exit code and a message meant for a person. */
export class CliError extends Error {
  override readonly name = "CliError";
  constructor(message: string, readonly exitCode: ExitCode, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Bad arguments or config: exit 2. */
export class UsageError extends CliError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, ExitCode.Usage, options);
  }
}
