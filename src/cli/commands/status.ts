import type { Command } from "commander";
import { ConfigError } from "../../config/index.js";
import { collectStatus, loadDaemonConfigWithoutSecrets, statusOkLine, statusProblems, type DaemonStatus, type JobStatus, type ResolvedConfig } from "../../daemon/index.js";
import { formatNodes } from "../../fleet/FleetNodes.js";
import { nodeStatusOf } from "../../daemon/statusNodes.js";
import { formatBytes } from "../../sync/index.js";
import { CliError, ExitCode, UsageError } from "../exitCodes.js";

/** The config `ferry status` reads without --config: FERRY_CONFIG, else ./ferry.yaml. */
export function defaultConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.FERRY_CONFIG ?? "ferry.yaml";
}

/**
 * The daemon's config as status reads it: the paths, not the secrets, so it works in a shell
 * where BACKUP_PASSWORD and the like are not set. An invalid file is a usage error (exit 2).
 */
async function loadStatusConfig(file: string): Promise<{ config: ResolvedConfig; unset: readonly string[] }> {
  try {
    return await loadDaemonConfigWithoutSecrets(file);
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(err.message, { cause: err });
    throw err;
  }
}

/** Register `ferry status [--config F] [--json] [--check]`. */
export function registerStatus(program: Command): void {
  program.command("status")
    .description("per job: state, last success, last error, next run, queue counts and recent transfers (works while the daemon runs, without its secrets)")
    .option("--config <file>", "the daemon's config file (default: $FERRY_CONFIG, else ./ferry.yaml)")
    .option("--json", "print machine-readable JSON on stdout")
    .option("--check", "for cron and monitoring: print one line per problem and exit 1 when the daemon is not running, a job is dead or a remote is down; else print ok and exit 0")
    .action(async (flags: { config?: string; json?: boolean; check?: boolean }) => {
      const { config, unset } = await loadStatusConfig(flags.config ?? defaultConfigPath());
      let status: DaemonStatus;
      try {
        status = await collectStatus(config);
      } catch (err) {
        throw new CliError(`status: ${(err as Error).message}`, ExitCode.Failed, { cause: err });
      }
      const problems = flags.check ? statusProblems(status) : [];
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(flags.check ? { ...status, problems } : status, null, 2)}\n`);
      } else if (flags.check) {
        process.stdout.write(problems.length > 0 ? `${problems.join("\n")}\n` : `${statusOkLine(status)}\n`);
      } else {
        process.stdout.write(formatStatus(status, Date.now()));
        if (unset.length > 0) process.stdout.write(`\n(not set in this shell, not needed for status: ${unset.join(", ")})\n`);
      }
      if (problems.length > 0) process.exitCode = ExitCode.Failed;
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
  if (s.nodes) lines.push(...formatNodes(s.nodes.map(nodeStatusOf), now));
  for (const r of s.remotesDown) {
    if (r.reason === "login refused") {
      lines.push(`remote ${r.remote}: LOGIN REFUSED since ${ago(r.since, now)}, ${r.failures} refused logins, next try ${ago(r.retryAt, now)}; server said: ${r.lastError}; fix the user or password in the config`);
    } else lines.push(`remote ${r.remote}: UNREACHABLE since ${ago(r.since, now)}, ${r.failures} failed tries, next ${ago(r.retryAt, now)}; last error: ${r.lastError}`);
  }
  for (const l of s.localProblems) {
    lines.push(`job ${l.job}: ${l.summary.toUpperCase().replace(/:.*/, "")}: ${l.path} since ${ago(l.since, now)}, next try ${ago(l.retryAt, now)}; ${l.message}`);
  }
  const h = s.hooks;
  if (h.pending > 0 || h.gaveUpCount > 0) lines.push(`hooks: ${h.pending} notification(s) waiting, ${h.retrying.length} failing, ${h.gaveUpCount} given up`);
  for (const d of h.retrying) lines.push(`  hook ${d.hook}: ${d.event} failing after ${d.attempts} tries, next ${ago(d.nextAttemptAt, now)}: ${d.lastError ?? ""}`);
  for (const d of h.gaveUp.slice(0, 3)) lines.push(`  hook ${d.hook}: ${d.event} of ${d.createdAt} GIVEN UP after ${d.attempts} tries: ${d.lastError ?? ""}`);
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
    `${j.name} (${j.kind}) — ${j.state}${j.pausedAt !== null ? `, PAUSED since ${ago(j.pausedAt, now)} (ferry jobs resume ${j.name})` : ""}${j.remoteDown ? ` (waiting: remote ${j.remoteDown.remote} ${j.remoteDown.reason})` : ""}${j.localProblem ? ` (waiting: ${j.localProblem.summary})` : ""}`,
    `  ${j.target}`,
    `  queued ${c.queued}, running ${c.leased}, retrying ${c.failed}, dead ${c.dead}, done ${c.done}`,
    `  last success: ${ago(j.lastSuccessAt, now)}`,
  ];
  if (j.lastError !== null) out.push(`  last error:   ${ago(j.lastErrorAt, now)}: ${j.lastError}`);
  if (j.nextRunAt !== null) out.push(`  next run:     ${ago(j.nextRunAt, now)}`);
  for (const t of j.recentTransfers) out.push(`  ${t.finishedAt}  ${t.path}  ${formatBytes(t.bytes)} in ${t.durationMs} ms, verified by ${t.verified}`);
  return out;
}
