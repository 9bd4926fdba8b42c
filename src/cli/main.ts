#!/usr/bin/env node
import { Command, CommanderError } from "commander";
import { CliError, ExitCode } from "./exitCodes.js";

/** Build the `ferry` command tree; each subcommand lives in commands/. */
export function buildProgram(): Command {
  const program = new Command("ferry")
    .description("FTP transfer and sync agent: mirrors, watched outboxes, one-shot transfers, an embedded server")
    .version("0.1.0")
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride();
  return program;
}

/** Run the CLI; resolves with the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === "number" ? process.exitCode : ExitCode.Ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version are successes; everything else commander refuses is usage (exit 2).
      return err.exitCode === 0 ? ExitCode.Ok : ExitCode.Usage;
    }
    if (err instanceof CliError) {
      process.stderr.write(`ferry: ${err.message}\n`);
      return err.exitCode;
    }
    process.stderr.write(`ferry: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return ExitCode.Failed;
  }
}

main(process.argv).then((code) => {
  process.exitCode = code;
});
