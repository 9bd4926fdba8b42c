import { causeChain } from "../protocol/index.js";

/** Whether an error says the queue database (or its volume) is full: SQLITE_FULL, or a write that hit ENOSPC. */
export function isQueueFull(err: unknown): boolean {
  for (const e of causeChain(err)) {
    const code = (e as { code?: unknown } | null)?.code;
    if (code === "SQLITE_FULL" || code === "ENOSPC" || code === "EDQUOT") return true;
    if (e instanceof Error && /database or disk is full/i.test(e.message)) return true;
  }
  return false;
}

/** The status and log line of a full queue database: what happens meanwhile and what to do. */
export function queueFullMessage(database: string): string {
  return `queue database full: ${database}: new jobs are refused until its volume has room (nothing is lost: refused files stay in the outbox and are queued once space returns)`;
}
