import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

/** The repository root. */
export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** argv that runs the ferry CLI from source (no build needed): node --import tsx src/cli/main.ts. */
export function ferryArgv(...args: string[]): string[] {
  return [process.execPath, "--import", "tsx", join(REPO_ROOT, "src", "cli", "main.ts"), ...args];
}

/** Run ferry to completion; resolves with exit code, stdout and stderr. */
export function runFerry(args: string[], options: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {}):
  Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  const [cmd, ...rest] = ferryArgv(...args) as [string, ...string[]];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, rest, { cwd: REPO_ROOT, env: { ...process.env, ...options.env }, stdio: "pipe" });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 60_000);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    if (options.input !== undefined) child.stdin.end(options.input);
    else child.stdin.end();
  });
}

/** Spawn ferry in the background (e.g. `serve`); the caller stops it. */
export function spawnFerry(args: string[], env?: NodeJS.ProcessEnv): ChildProcess {
  const [cmd, ...rest] = ferryArgv(...args) as [string, ...string[]];
  return spawn(cmd, rest, { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: "pipe" });
}
