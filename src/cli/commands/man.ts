import type { Command } from "commander";
import { programSpec } from "../commandSpec.js";
import { manPage } from "../manPage.js";
import { buildProgram } from "../program.js";

/** Register `ferry man`: the manual page in roff, from the same definitions as --help. */
export function registerMan(program: Command): void {
  program.command("man")
    .description("print the ferry(1) manual page in roff (ferry man | man -l -)")
    .action(async () => {
      const full = await buildProgram();
      process.stdout.write(manPage(programSpec(full), full.version() ?? ""));
    });
}
