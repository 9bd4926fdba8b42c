import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ferryArgv, REPO_ROOT } from "./cli.js";

// Peak memory of a ferry child process (HELPERS.md "Memory checks"): a module preloaded with
// --import prints process.resourceUsage().maxRSS on exit, the kernel's high-water mark, so no
// sampling can miss the peak.

const REPORTER = join(tmpdir(), "ferry-report-maxrss.mjs");
writeFileSync(REPORTER, 'process.on("exit", () => process.stderr.write(`\\nFERRY_MAXRSS_KB=${process.resourceUsage().maxRSS}\\n`));\n');

/** The result of a measured run: exit code, output, and peak RSS in MiB. */
export interface MeasuredRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Peak resident memory of the ferry process, MiB (NaN when the process died without reporting). */
  peakMiB: number;
  /** Lines of stdout (counted as they arrive; stdout itself is kept only when `keepStdout`). */
  stdoutLines: number;
}

/** Run ferry with `args` and report its peak RSS. */
export function runFerryMeasured(args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; keepStdout?: boolean } = {}): Promise<MeasuredRun> {
  const [node, ...rest] = ferryArgv(...args) as [string, ...string[]];
  const argv = [rest[0]!, rest[1]!, "--import", REPORTER, ...rest.slice(2)];
  return new Promise((resolve, reject) => {
    const child = spawn(node, argv, { cwd: REPO_ROOT, env: { ...process.env, ...options.env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let stdoutLines = 0;
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      for (let i = d.indexOf("\n"); i >= 0; i = d.indexOf("\n", i + 1)) stdoutLines++;
      if (options.keepStdout !== false) stdout += d;
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 60_000);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const m = /FERRY_MAXRSS_KB=(\d+)/.exec(stderr);
      resolve({ code, signal, stdout, stderr: stderr.replace(/\n?FERRY_MAXRSS_KB=\d+\n/, ""), peakMiB: m ? Number(m[1]) / 1024 : NaN, stdoutLines });
    });
  });
}
