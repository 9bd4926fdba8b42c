#!/usr/bin/env node
import "./idleHeap.js";
import { CommanderError } from "commander";
import { LocalFileError } from "../sync/localErrors.js";
import { CliError, ExitCode } from "./exitCodes.js";
import { failureJson, jsonCommandOf, printJson } from "./jsonResult.js";
import { buildProgram } from "./program.js";

/** The subcommand named on the command line: the first word that is not a flag (global flags take no value). */
export function subcommandOf(argv: readonly string[]): string | undefined {
  return argv.slice(2).find((a) => !a.startsWith("-"));
}

/** Print an error that ends the command (stderr for people; with --json also the JSON document on stdout); returns the exit code. */
function fail(argv: readonly string[], err: unknown): number {
  let code: number;
  if (err instanceof CommanderError) {
    // Help and version are successes; everything else commander refuses is usage (exit 2).
    // Commander has printed its own message already.
    if (err.exitCode === 0) return ExitCode.Ok;
    code = ExitCode.Usage;
  } else if (err instanceof CliError) {
    process.stderr.write(`ferry: ${err.message}\n`);
    code = err.exitCode;
  } else if (err instanceof LocalFileError) {
    // A full, read-only or unwritable local disk: the message names the path, the cause and the fix.
    process.stderr.write(`ferry: ${err.message}\n`);
    code = ExitCode.Failed;
  } else {
    process.stderr.write(`ferry: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    code = ExitCode.Failed;
  }
  const command = jsonCommandOf(argv, subcommandOf(argv));
  if (command !== undefined) printJson(failureJson(command, err, code));
  return code;
}

/** Run the CLI; resolves with the process exit code. */
export async function main(argv: string[]): Promise<number> {
  try {
    const program = await buildProgram(subcommandOf(argv));
    await program.parseAsync(argv);
    return typeof process.exitCode === "number" ? process.exitCode : ExitCode.Ok;
  } catch (err) {
    return fail(argv, err);
  }
}

main(process.argv).then((code) => {
  process.exitCode = code;
});
