import cliProgress from "cli-progress";
import type { Plan, ProgressSink } from "../sync/index.js";
import { formatBytes, planTotals } from "../sync/index.js";
import { isQuiet } from "./verbosity.js";

/** A progress display on stderr: bars on a TTY, a plain line every few seconds otherwise. */
export interface Progress extends ProgressSink {
  /** The plan is known: totals for the bar. */
  planned(plan: Plan): void;
  /** Set totals directly (one-file commands). */
  start(files: number, bytes: number): void;
  /** Remove the bar / print nothing more. */
  stop(): void;
}

/** Options of createProgress. */
export interface ProgressOptions {
  /** Where to draw; default process.stderr. */
  stream?: NodeJS.WriteStream;
  /** Seconds between plain lines when not on a TTY; default 5. */
  intervalS?: number;
  /** Show nothing (e.g. --json runs still print plain lines only when stderr is a TTY). */
  silent?: boolean;
}

/** Create the progress display for a command. */
export function createProgress(options: ProgressOptions = {}): Progress {
  const stream = options.stream ?? process.stderr;
  const t = { files: 0, bytes: 0, doneFiles: 0, doneBytes: 0, failed: 0, started: performance.now() };
  let bar: cliProgress.SingleBar | undefined;
  let timer: NodeJS.Timeout | undefined;
  const rate = () => t.doneBytes / Math.max(0.001, (performance.now() - t.started) / 1000);
  const line = () => `ferry: ${t.doneFiles}/${t.files} files, ${formatBytes(t.doneBytes)}/${formatBytes(t.bytes)}, ${formatBytes(Math.round(rate()))}/s` +
    (t.failed ? `, ${t.failed} failed` : "");
  const payload = () => ({ files: `${t.doneFiles}/${t.files}`, rateText: `${formatBytes(Math.round(rate()))}/s`,
    doneText: formatBytes(t.doneBytes), totalText: formatBytes(t.bytes) });
  const begin = (files: number, bytes: number): void => {
    t.files = files; t.bytes = bytes; t.started = performance.now();
    if (options.silent || isQuiet() || files === 0) return;
    if (stream.isTTY) {
      bar = new cliProgress.SingleBar({
        stream, hideCursor: true, clearOnComplete: true, etaBuffer: 50,
        format: "{bar} {percentage}% | {doneText}/{totalText} | {files} files | {rateText} | ETA {eta_formatted}",
      }, cliProgress.Presets.shades_classic);
      bar.start(Math.max(1, bytes), 0, payload());
    } else {
      timer = setInterval(() => stream.write(`${line()}\n`), (options.intervalS ?? 5) * 1000);
      timer.unref();
    }
  };
  return {
    planned(plan) { const p = planTotals(plan); begin(p.transfers, p.bytes); },
    start: begin,
    bytes(n) { t.doneBytes += n; bar?.update(Math.min(t.doneBytes, Math.max(1, t.bytes)), payload()); },
    fileDone(_path, ok) { if (ok) t.doneFiles++; else t.failed++; bar?.update(Math.min(t.doneBytes, Math.max(1, t.bytes)), payload()); },
    stop() {
      bar?.stop();
      bar = undefined;
      if (timer) clearInterval(timer);
      timer = undefined;
    },
  };
}
