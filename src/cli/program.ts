import { Command, Option } from "commander";
import { FERRY_VERSION } from "../version.js";
import { UsageError } from "./exitCodes.js";
import { setJsonCommand } from "./jsonResult.js";
import { applyVerbosity, countVerbose, type VerbosityFlags } from "./verbosity.js";

type Register = (program: Command) => void;

/**
 * Every subcommand, loaded on demand: `ferry serve` then imports only the server, which
 * keeps a long-running server's resident memory free of the sync engine, SQLite and the
 * progress bars (about 30 MB of RSS measured on Node 20).
 */
const COMMANDS: Readonly<Record<string, () => Promise<Register>>> = {
  serve: async () => (await import("./commands/serve.js")).registerServe,
  "hash-password": async () => (await import("./commands/hashPassword.js")).registerHashPassword,
  ls: async () => (await import("./commands/ls.js")).registerLs,
  get: async () => (await import("./commands/get.js")).registerGet,
  put: async () => (await import("./commands/put.js")).registerPut,
  mirror: async () => (await import("./commands/mirror.js")).registerMirror,
  daemon: async () => (await import("./commands/daemon.js")).registerDaemon,
  status: async () => (await import("./commands/status.js")).registerStatus,
  jobs: async () => (await import("./commands/jobs.js")).registerJobs,
  demo: async () => (await import("./commands/demo.js")).registerDemo,
  completion: async () => (await import("./commands/completion.js")).registerCompletion,
  man: async () => (await import("./commands/man.js")).registerMan,
};

/**
 * Build the `ferry` command tree. With `only` naming a known subcommand, just that one is
 * loaded; otherwise (help, an unknown word) all of them, so help and errors list everything.
 */
export async function buildProgram(only?: string): Promise<Command> {
  const program = new Command("ferry")
    .description("FTP transfer and sync agent: mirrors, watched outboxes, one-shot transfers, an embedded server")
    .version(FERRY_VERSION)
    // Global flags, accepted before or after the subcommand (rclone style).
    .addOption(new Option("-v, --verbose", "more log output on stderr: -v info, -vv debug (overrides FERRY_LOG_LEVEL)").argParser(countVerbose))
    .option("-q, --quiet", "errors only: no progress, no success summary, log level error (overrides FERRY_LOG_LEVEL)")
    .configureHelp({ showGlobalOptions: true })
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride()
    .hook("preAction", (_program, action) => {
      const flags = action.optsWithGlobals<VerbosityFlags>();
      if (flags.quiet && flags.verbose) throw new UsageError("-q and -v together make no sense: pick one");
      applyVerbosity(flags);
      setJsonCommand(action.opts<{ json?: boolean }>().json === true ? action.name() : undefined);
    });
  const names = only !== undefined && Object.hasOwn(COMMANDS, only) ? [only] : Object.keys(COMMANDS);
  for (const name of names) (await COMMANDS[name]!())(program);
  return program;
}
