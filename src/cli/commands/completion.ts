import { Argument, type Command } from "commander";
import { programSpec } from "../commandSpec.js";
import { completionScript, SHELLS, type Shell } from "../completionScripts.js";
import { buildProgram } from "../program.js";

/** Register `ferry completion bash|zsh|fish`. */
export function registerCompletion(program: Command): void {
  program.command("completion")
    .description("print the shell completion script for bash, zsh or fish (source <(ferry completion bash))")
    .addArgument(new Argument("<shell>", "the shell").choices(SHELLS))
    .action(async (shell: Shell) => {
      // The whole tree, every subcommand loaded: the script covers them all.
      process.stdout.write(completionScript(shell, programSpec(await buildProgram())));
    });
}
