// ferry's CLI for benchmarks that time it as a whole process: bundled with esbuild (code
// splitting, so each subcommand loads only its own modules, as the tsc build in dist/ does)
// and run as plain JS, without the tsx loader's start-up cost.
import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/**
 * Bundle src/cli/main.ts into a folder of this process's own under .tmp/ (inside the repo,
 * so the bundle's external packages resolve from node_modules; one folder per process, so
 * two benches never build over each other), removed when the process exits. Returns main.js.
 */
export function buildFerryCli(): string {
  const out = join(REPO, ".tmp", `bench-cli-${process.pid}`);
  rmSync(out, { recursive: true, force: true });
  execFileSync(join(REPO, "node_modules", ".bin", "esbuild"), [join(REPO, "src/cli/main.ts"), "--bundle", "--splitting", "--platform=node",
    "--format=esm", "--packages=external", "--log-level=warning", `--outdir=${out}`], { stdio: "inherit" });
  process.once("exit", () => rmSync(out, { recursive: true, force: true }));
  return join(out, "main.js");
}
