import type { DaemonStatus } from "./status.js";

/**
 * What `ferry status --check` reports, one line per problem (empty when all is well): the
 * daemon not running, a dead job (a mirror whose last run gave up; an outbox with files that
 * gave up), a remote unreachable or refusing the login, a local side that cannot be written,
 * a queue database that cannot take writes.
 */
export function statusProblems(s: DaemonStatus): string[] {
  const problems: string[] = [];
  if (s.daemonPid === null) problems.push(`daemon not running: no ferry daemon holds ${s.database} (start it: ferry daemon --config ${s.config})`);
  if (s.queueProblem !== null) problems.push(`queue: ${s.queueProblem}`);
  for (const j of s.jobs) {
    if (j.kind === "mirror" && j.state === "dead") {
      problems.push(`job ${j.name}: dead: its last run gave up: ${j.lastError ?? "no error recorded"} (run it again: ferry jobs retry ${j.name})`);
    } else if (j.kind === "upload" && j.counts.dead > 0) {
      problems.push(`job ${j.name}: ${j.counts.dead} file(s) dead (gave up); last error: ${j.lastError ?? "none recorded"} (retry them: ferry jobs retry ${j.name})`);
    }
  }
  for (const r of s.remotesDown) {
    problems.push(r.reason === "login refused"
      ? `remote ${r.remote}: login refused since ${r.since}: ${r.lastError}; fix the user or password in the config`
      : `remote ${r.remote}: unreachable since ${r.since} (${r.failures} failed tries): ${r.lastError}`);
  }
  for (const l of s.localProblems) problems.push(`job ${l.job}: ${l.summary} since ${l.since}: ${l.message}`);
  return problems;
}

/** The one line `ferry status --check` prints when there is no problem. */
export function statusOkLine(s: DaemonStatus): string {
  return `ok: daemon running (pid ${s.daemonPid}), ${s.jobs.length} job(s), none dead, every remote reachable`;
}
