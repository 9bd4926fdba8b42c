import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import type { TestContext } from "node:test";

/**
 * Find an external peer program (curl, lftp, vsftpd, python3 …). Interop tests must not
 * silently skip in CI: under CI=true a missing peer is a failure that names the package to
 * install; elsewhere the test is skipped with the same message.
 */
export function findPeer(name: string, candidates: string[] = []): string | undefined {
  for (const c of candidates) if (existsSync(c)) return c;
  try {
    const out = execFileSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" }).trim();
    return out || undefined;
  } catch {
    return undefined;
  }
}

/** True when running under CI (CI=true), where missing peers fail loudly. */
export const inCI = process.env.CI === "true" || process.env.CI === "1";

/**
 * Resolve a peer for a test, or skip the test (outside CI) / throw (in CI) with a message
 * naming what to install. Returns the path, or undefined after skipping.
 */
export function requirePeer(t: TestContext, name: string, install: string, candidates: string[] = []): string | undefined {
  const found = findPeer(name, candidates);
  if (found) return found;
  const msg = `peer "${name}" not found: install it (${install}); .ci/run does this on CI`;
  if (inCI) throw new Error(msg);
  t.skip(msg);
  return undefined;
}
