import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { join } from "node:path";
import { REPO_ROOT } from "../helpers/cli.js";

/** A fixture script under test/queue/fixtures run with node + tsx, with its stdout lines. */
export interface Fixture {
  readonly child: ChildProcessWithoutNullStreams;
  /** Resolves with the next stdout line (rejects if the process exits first or after timeoutMs). */
  nextLine(timeoutMs?: number): Promise<string>;
  /** Resolves with the exit code and signal. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

/** Spawns test/queue/fixtures/NAME with args; killed with SIGKILL if still running after hardTimeoutMs. */
export function spawnFixture(name: string, args: string[], hardTimeoutMs = 60_000): Fixture {
  const child = spawn(process.execPath, ["--import", "tsx", join(REPO_ROOT, "test", "queue", "fixtures", name), ...args], {
    cwd: REPO_ROOT,
    stdio: "pipe",
  });
  const lines: string[] = [];
  const waiters: ((line: string | undefined) => void)[] = [];
  let buffer = "";
  let stderr = "";
  let done = false;
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    buffer += chunk;
    for (let i = buffer.indexOf("\n"); i >= 0; i = buffer.indexOf("\n")) {
      const line = buffer.slice(0, i);
      buffer = buffer.slice(i + 1);
      const w = waiters.shift();
      if (w) w(line);
      else lines.push(line);
    }
  });
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  const hard = setTimeout(() => child.kill("SIGKILL"), hardTimeoutMs);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) =>
    child.on("close", (code, signal) => {
      clearTimeout(hard);
      done = true;
      for (const w of waiters.splice(0)) w(undefined);
      resolve({ code, signal, stderr });
    }),
  );
  return {
    child,
    exited,
    nextLine(timeoutMs = 30_000) {
      const queued = lines.shift();
      if (queued !== undefined) return Promise.resolve(queued);
      if (done) return Promise.reject(new Error(`fixture ${name} exited before printing a line; stderr: ${stderr}`));
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`fixture ${name}: no line within ${timeoutMs} ms; stderr: ${stderr}`)), timeoutMs);
        waiters.push((line) => {
          clearTimeout(timer);
          if (line === undefined) reject(new Error(`fixture ${name} exited before printing a line; stderr: ${stderr}`));
          else resolve(line);
        });
      });
    },
  };
}
