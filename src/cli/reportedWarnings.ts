/**
 * Log messages of the sync engine and the client that a one-shot command's own output
 * already states (mirror's summary, ls's "skipped" lines). Logging them too printed each
 * warning twice on a terminal; the daemon, whose only output is its log, keeps them.
 */
const REPORTED: readonly RegExp[] = [
  /^the server offers no checksum command/, // mirror: "--checksum: the server offers no checksum command…"
  /^not deleting \d+ extraneous entries/, // mirror: deletesSkipped line
  /^refusing to delete \d+/, // mirror: the delete guard's refusal (stdout and stderr)
  /^partial file discarded: started over from byte 0/, // mirror: "restarted PATH from byte 0"; get/put: the summary
  /^ftp listing entry refused/, // ls and mirror: "skipped NAME: reason"
  /^ftp listing: more entries refused than logged/, // ls and mirror: "N entries rejected"
];

/** The logger's `omit` for one-shot commands; at debug level nothing is left out. */
export function reportedByCommand(level: string): ((msg: string) => boolean) | undefined {
  if (level === "debug" || level === "trace") return undefined;
  return (msg) => REPORTED.some((r) => r.test(msg));
}

/** The logger options of a one-shot command: FERRY_LOG_LEVEL (or -v/-q) else warn, without doubled warnings. */
export function commandLogOptions(env: NodeJS.ProcessEnv = process.env): { level: string; omit?: (msg: string) => boolean } {
  const level = env.FERRY_LOG_LEVEL ?? "warn";
  const omit = reportedByCommand(level);
  return omit ? { level, omit } : { level };
}
