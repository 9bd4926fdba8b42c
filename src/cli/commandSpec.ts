import type { Command, Help, Option } from "commander";

/**
 * The command tree as plain data, read from commander's own definitions (the same ones
 * --help prints), so the shell completions and the man page never drift from the parser.
 */
export interface OptionSpec {
  short?: string;
  long?: string;
  /** The value's name ("file", "n"…), when the option takes one. */
  value?: string;
  description: string;
  /** The value names a file or folder (complete paths). */
  takesPath: boolean;
  choices?: readonly string[];
}

export interface ArgumentSpec {
  name: string;
  required: boolean;
  description: string;
  choices?: readonly string[];
}

export interface CommandSpec {
  name: string;
  description: string;
  usage: string;
  options: OptionSpec[];
  arguments: ArgumentSpec[];
}

export interface ProgramSpec {
  name: string;
  description: string;
  globalOptions: OptionSpec[];
  commands: CommandSpec[];
}

const PATH_VALUE = /^(file|dir|folder|path|local)$/i;

function optionSpec(o: Option): OptionSpec {
  const value = /[<[]([^>\]]+)[>\]]/.exec(o.flags)?.[1];
  return {
    ...(o.short ? { short: o.short } : {}), ...(o.long ? { long: o.long } : {}),
    ...(value !== undefined ? { value } : {}),
    description: o.description,
    takesPath: value !== undefined && PATH_VALUE.test(value),
    ...(o.argChoices ? { choices: o.argChoices } : {}),
  };
}

/** Read the tree from a built program (every subcommand loaded). */
export function programSpec(program: Command): ProgramSpec {
  const help: Help = program.createHelp();
  return {
    name: program.name(),
    description: program.description(),
    globalOptions: help.visibleOptions(program).map(optionSpec),
    commands: program.commands.filter((c) => !(c as unknown as { _hidden?: boolean })._hidden).map((c) => ({
      name: c.name(),
      description: c.description(),
      usage: c.usage(),
      // The help option is listed once, with the global ones.
      options: help.visibleOptions(c).filter((o) => o.long !== "--help").map(optionSpec),
      arguments: c.registeredArguments.map((a) => ({
        name: a.name(), required: a.required, description: a.description, ...(a.argChoices ? { choices: a.argChoices } : {}),
      })),
    })),
  };
}
