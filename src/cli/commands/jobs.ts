import type { Command } from "commander";
import { JobActionError, JobActions, type ActionResult } from "../../daemon/jobActions.js";
import type { ResolvedConfig } from "../../daemon/index.js";
import { openQueue } from "../../queue/index.js";
import { CliError, ExitCode, UsageError } from "../exitCodes.js";
import { loadConfigOrExit } from "./daemon.js";
import { defaultConfigPath } from "./status.js";

/**
 * Runs one action on the queue database directly (like `ferry status` reads it): it works
 * whether the daemon runs or not, and a running daemon sees the change at its next poll.
 */
async function withActions(config: ResolvedConfig, fn: (a: JobActions) => Promise<ActionResult>): Promise<ActionResult> {
  const queue = await openQueue({ database: config.database });
  try {
    return await fn(new JobActions({ config, queue }));
  } catch (err) {
    if (err instanceof JobActionError) throw new CliError(err.message, err.kind === "unknown" ? ExitCode.Usage : ExitCode.Failed, { cause: err });
    throw err;
  } finally {
    await queue.close();
  }
}

function parseId(text: string): number {
  const id = /^\d{1,15}$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(id) || id < 1) throw new UsageError(`expected a run id (a positive integer from \`ferry status --json\`), not ${JSON.stringify(text)}`);
  return id;
}

/** Register `ferry jobs run|pause|resume|retry|cancel`. */
export function registerJobs(program: Command): void {
  const jobs = program.command("jobs").description("act on the daemon's jobs from the shell: run now, pause, resume, retry dead runs, cancel waiting runs");
  const common = (cmd: Command) => cmd
    .option("--config <file>", "the daemon's config file (default: $FERRY_CONFIG, else ./ferry.yaml)")
    .option("--json", "print the result as JSON on stdout");
  const run = async (flags: { config?: string; json?: boolean }, fn: (a: JobActions) => Promise<ActionResult>): Promise<void> => {
    const config = await loadConfigOrExit(flags.config ?? defaultConfigPath());
    const result = await withActions(config, fn);
    process.stdout.write(flags.json ? `${JSON.stringify(result, null, 2)}\n` : `${result.message}\n`);
  };
  common(jobs.command("run <name>").description("queue a run of a mirror now (an upload job: run its waiting files now); the daemon picks it up within a second"))
    .action((name: string, flags) => run(flags, (a) => a.run(name)));
  common(jobs.command("pause <name>").description("pause a job: its runs wait (kept in the queue) until resume; a running run finishes"))
    .action((name: string, flags) => run(flags, (a) => a.pause(name)));
  common(jobs.command("resume <name>").description("resume a paused job"))
    .action((name: string, flags) => run(flags, (a) => a.resume(name)));
  common(jobs.command("retry [id]").description("retry a dead run by id, or every dead run with --all"))
    .option("--all", "retry every dead run")
    .action((id: string | undefined, flags: { config?: string; json?: boolean; all?: boolean }) => {
      if ((id === undefined) === (flags.all !== true)) throw new UsageError("ferry jobs retry: give a run id or --all (not both)");
      return run(flags, (a) => a.retry(id === undefined ? {} : { id: parseId(id) }));
    });
  common(jobs.command("cancel <name>").description("remove the waiting runs of a job (a running run is not touched)"))
    .option("--id <id>", "only this run")
    .action((name: string, flags: { config?: string; json?: boolean; id?: string }) => run(flags, (a) => a.cancel(name, flags.id === undefined ? undefined : parseId(flags.id))));
}
