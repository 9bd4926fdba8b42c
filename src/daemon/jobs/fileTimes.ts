import type { ProgressSink } from "../../sync/index.js";
import type { TransferProgress } from "../activity.js";

/**
 * The part of a run's progress sink that every job kind shares: tells the daemon's running view
 * (and metrics) of each file, and times each one for the transfer history (`durationOf`).
 */
export function timedFiles(progress: TransferProgress | undefined, jobId: number): {
  readonly sink: Required<Pick<ProgressSink, "fileStarted" | "bytes" | "fileDone">>;
  durationOf(path: string): number;
} {
  const started = new Map<string, number>();
  const durations = new Map<string, number>();
  return {
    sink: {
      fileStarted: (p, size) => {
        started.set(p, performance.now());
        progress?.started(jobId, p, size);
      },
      bytes: (n) => progress?.bytes(jobId, n),
      fileDone: (p, ok) => {
        durations.set(p, Math.round(performance.now() - (started.get(p) ?? performance.now())));
        progress?.done(jobId, p, ok);
      },
    },
    durationOf: (path) => durations.get(path) ?? 0,
  };
}
