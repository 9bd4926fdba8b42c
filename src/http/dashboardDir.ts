import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The dashboard's folder (`dashboard/` at the package root, shipped as-is: no build step):
 * found by walking up from this module, because the source (src/http) and the build
 * (dist/src/http) sit at different depths below it.
 */
export function dashboardDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, "dashboard");
    if (existsSync(join(candidate, "index.html"))) return candidate;
    dir = dirname(dir);
  }
  throw new Error(`no dashboard/index.html found above ${fileURLToPath(import.meta.url)}; the package must ship its dashboard/ folder (package.json "files")`);
}
