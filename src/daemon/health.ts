import { readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import type { RemoteTrouble } from "./remotes.js";

/** The file beside the database where a running daemon lists the remotes it cannot reach. */
export function healthFileOf(database: string): string {
  return `${database}.remotes.json`;
}

/** Replace the health file (atomically: a reader never sees half of it). Rare: once per backoff window. */
export function writeRemoteHealth(database: string, troubled: readonly RemoteTrouble[]): void {
  const file = healthFileOf(database);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify({ pid: process.pid, updatedAt: Date.now(), troubled }, null, 2)}\n`);
  renameSync(tmp, file);
}

/** Remove the health file (the daemon stopped). */
export function removeRemoteHealth(database: string): void {
  rmSync(healthFileOf(database), { force: true });
}

/** The remotes the daemon with this pid cannot reach; empty when the file is missing, stale or unreadable. */
export function readRemoteHealth(database: string, pid: number): RemoteTrouble[] {
  try {
    const parsed = JSON.parse(readFileSync(healthFileOf(database), "utf8")) as { pid?: unknown; troubled?: unknown };
    return parsed.pid === pid && Array.isArray(parsed.troubled) ? (parsed.troubled as RemoteTrouble[]) : [];
  } catch {
    return [];
  }
}
