import type { Command } from "commander";
import { collectStatus, type DaemonStatus, type JobStatus } from "../../daemon/index.js";
import { formatBytes } from "../../sync/index.js";
import { CliError, ExitCode } from "../exitCodes.js";
import { loadConfigOrExit } from "./daemon.js";

/** The config `ferry status` reads without --config: FERRY_CONFIG, else ./ferry.yaml. */
export function defaultConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.FERRY_CONFIG ?? "ferry.yaml";
}

/** Register `ferry status [--config F] [--json]`. */
export function registerStatus(program: Command): void {
  program.command("status")
    .description("per job: state, last success, last error, next run, queue counts and recent transfers (works while the daemon runs)")
    .option("--config <file>", "the daemon's config file (default: $FERRY_CONFIG, else ./ferry.yaml)")
    .option("--json", "print machine-readable JSON on stdout")
    .action(async (flags: { config?: string; json?: boolean }) => {
      const config = await loadConfigOrExit(flags.config ?? defaultConfigPath());
      let status: DaemonStatus;
      try {
        status = collectStatus(config);
      } catch (err) {
        throw new CliError(`status: ${(err as Error).message}`, ExitCode.Failed, { cause: err });
      }
      process.stdout.write(flags.json ? `${JSON.stringify(status, null, 2)}\n` : formatStatus(status, Date.now()));
    });
}

/** `ferry status` for a person: one block per job. */
export function formatStatus(s: DaemonStatus, now: number): string {
  const lines = [
    `daemon: ${s.daemonPid !== null ? `running (pid ${s.daemonPid})` : "not running"}`,
    `config: ${s.config}`,
    `database: ${s.database}`,
  ];
  if (s.queueProblem !== null) lines.push(`QUEUE: ${s.queueProblem}`);
  for (const r of s.remotesDown) {
    if (r.reason === "login refused") {
      lines.push(`remote ${r.remote}: LOGIN REFUSED since ${ago(r.since, now)}, ${r.failures} refused logins, next try ${ago(r.retryAt, now)}; server said: ${r.lastError}; fix the user or password in the config`);
    } else lines.push(`remote ${r.remote}: UNREACHABLE since ${ago(r.since, now)}, ${r.failures} failed tries, next ${ago(r.retryAt, now)}; last error: ${r.lastError}`);
  }
  for (const l of s.localProblems) {
    lines.push(`job ${l.job}: ${l.summary.toUpperCase().replace(/:.*/, "")}: ${l.path} since ${ago(l.since, now)}, next try ${ago(l.retryAt, now)}; ${l.message}`);
  }
  for (const j of s.jobs) lines.push("", ...formatJob(j, now));
  return `${lines.join("\n")}\n`;
}

function ago(isoTime: string | null, now: number): string {
  if (isoTime === null) return "never";
  const ms = now - Date.parse(isoTime);
  const abs = Math.abs(ms);
  const text = abs < 1000 ? `${abs} ms` : abs < 120_000 ? `${Math.round(abs / 1000)} s` : abs < 7_200_000 ? `${Math.round(abs / 60_000)} min` : `${Math.round(abs / 3_600_000)} h`;
  return `${isoTime} (${ms >= 0 ? `${text} ago` : `in ${text}`})`;
}

function formatJob(j: JobStatus, now: number): string[] {
  const c = j.counts;
  const out = [
    `${j.name} (${j.kind}) — ${j.state}${j.remoteDown ? ` (waiting: remote ${j.remoteDown.remote} ${j.remoteDown.reason})` : ""}${j.localProblem ? ` (waiting: ${j.localProblem.summary})` : ""}`,
    `  ${j.target}`,
    `  queued ${c.queued}, running ${c.leased}, retrying ${c.failed}, dead ${c.dead}, done ${c.done}`,
    `  last success: ${ago(j.lastSuccessAt, now)}`,
  ];
  if (j.lastError !== null) out.push(`  last error:   ${ago(j.lastErrorAt, now)}: ${j.lastError}`);
  if (j.nextRunAt !== null) out.push(`  next run:     ${ago(j.nextRunAt, now)}`);
  for (const t of j.recentTransfers) out.push(`  ${t.finishedAt}  ${t.path}  ${formatBytes(t.bytes)} in ${t.durationMs} ms, verified by ${t.verified}`);
  return out;
}
