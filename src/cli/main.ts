#!/usr/bin/env node
import { CommanderError } from "commander";
import { LocalFileError } from "../sync/localErrors.js";
import { CliError, ExitCode } from "./exitCodes.js";
import { buildProgram } from "./program.js";

/** The subcommand named on the command line: the first word that is not a flag (global flags take no value). */
export function subcommandOf(argv: readonly string[]): string | undefined {
  return argv.slice(2).find((a) => !a.startsWith("-"));
}

/** Run the CLI; resolves with the process exit code. */
export async function main(argv: string[]): Promise<number> {
  try {
    const program = await buildProgram(subcommandOf(argv));
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
    if (err instanceof LocalFileError) {
      // A full, read-only or unwritable local disk: the message names the path, the cause and the fix.
      process.stderr.write(`ferry: ${err.message}\n`);
      return ExitCode.Failed;
    }
    process.stderr.write(`ferry: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return ExitCode.Failed;
  }
}

main(process.argv).then((code) => {
  process.exitCode = code;
});
