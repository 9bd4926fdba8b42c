import type { Logger } from "../log/index.js";
import type { ControlChannel } from "./ControlChannel.js";
import { PipelineBrokenError } from "./errors.js";

// Whether a server takes pipelined commands (STYLE guideline 1), decided once per server
// (host:port) for the process: the first connection that wants to pipeline probes, the pool's
// other connections wait for its verdict instead of probing again. Any reply that does not
// fit the queue later switches the server to lockstep for the rest of the process, logged
// once. lftp keeps `ftp:sync-mode` on by default for the servers that mishandle queued
// commands; ferry finds them instead (D. J. Bernstein, "FTP pipelining").

/** How a server is driven: several commands in flight, or one at a time. */
export type PipelineVerdict = "pipeline" | "lockstep";

interface Decision {
  verdict?: PipelineVerdict;
  /** A probe under way on one connection; resolves undefined when that connection died first. */
  probing?: Promise<PipelineVerdict | undefined>;
}

const decisions = new Map<string, Decision>();

/**
 * How long the probe's second reply may lag its first, in ms. Both commands arrive in one
 * packet and a pipelining server answers them together; a server that read only the first
 * never answers the second.
 */
export const PROBE_STALL_MS = 1000;

/** The verdict for `server`, when known. */
export function pipelineVerdict(server: string): PipelineVerdict | undefined {
  return decisions.get(server)?.verdict;
}

/** Switch `server` to lockstep for the rest of the process; logged once (pino warn) with the reason. */
export function switchToLockstep(server: string, why: string, logger: Logger, detail?: string): void {
  const d = decisions.get(server) ?? {};
  if (d.verdict === "lockstep") return;
  d.verdict = "lockstep";
  decisions.set(server, d);
  logger.warn({ server, why, ...(detail !== undefined && detail !== why ? { detail } : {}) }, "ftp pipelining off for this server: commands go one at a time from now on");
}

/** Forget every verdict (tests that reuse a port for a differently behaved server). */
export function forgetPipelineVerdicts(): void {
  decisions.clear();
}

/**
 * The verdict for `server`, probing on `control` when nobody has: PWD and NOOP in one write,
 * whose replies must come back in order (257, then 200) with the second no later than
 * PROBE_STALL_MS after the first. A misfit closes `control` and rejects with the
 * PipelineBrokenError (the server is then lockstep); the caller's work goes on elsewhere.
 */
export async function decidePipelining(server: string, control: ControlChannel, logger: Logger): Promise<PipelineVerdict> {
  for (;;) {
    const d = decisions.get(server);
    if (d?.verdict) return d.verdict;
    if (d?.probing) {
      const verdict = await d.probing;
      if (verdict) return verdict;
      continue; // that connection died before it could tell: probe here
    }
    const probing = probe(server, control, logger);
    decisions.set(server, { probing: probing.then((v) => v, () => pipelineVerdict(server)) });
    try {
      return (await probing) ?? "lockstep";
    } finally {
      const now = decisions.get(server);
      if (now && !now.verdict) decisions.delete(server);
    }
  }
}

async function probe(server: string, control: ControlChannel, logger: Logger): Promise<PipelineVerdict> {
  const handle = control.openPipeline({
    owner: "the pipelining probe", stallMs: PROBE_STALL_MS,
    onBroken: (err) => switchToLockstep(server, `probe: ${err.reason}`, logger, err.message),
  });
  const pwd = handle.request("PWD");
  const noop = handle.request("NOOP");
  const [a, b] = await Promise.allSettled([pwd, noop]);
  handle.release();
  for (const r of [a, b]) {
    if (r.status === "rejected") {
      if (r.reason instanceof PipelineBrokenError) throw r.reason;
      // A refusal (PWD or NOOP answered 5xx) or the connection lost: no verdict from this
      // connection; another may try.
      if (control.closed) throw r.reason;
      switchToLockstep(server, `probe: ${(r.reason as Error).message}`, logger);
      return "lockstep";
    }
  }
  const d = decisions.get(server) ?? {};
  d.verdict = "pipeline";
  decisions.set(server, d);
  logger.debug({ server }, "ftp server takes pipelined commands");
  return "pipeline";
}
