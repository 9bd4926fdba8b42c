import { readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import type { LocalTrouble } from "./localTrouble.js";
import { isAlive } from "./lock.js";
import type { RemoteTrouble } from "./remotes.js";

/** A problem of the queue database itself (e.g. its volume is full), as `ferry status` shows it. */
export interface QueueTrouble {
  readonly message: string;
  readonly since: number;
  /** Stable files that could not be queued meanwhile; they are queued again once the database takes writes. */
  readonly refusedFiles: number;
}

/** What a running daemon publishes for `ferry status` beside its database. */
export interface DaemonHealth {
  readonly troubled: readonly RemoteTrouble[];
  readonly local: readonly LocalTrouble[];
  readonly queue: QueueTrouble | null;
}

const EMPTY: DaemonHealth = { troubled: [], local: [], queue: null };

/** The file beside the database (config.localBase) where a running daemon lists the remotes it cannot reach. */
export function healthFileOf(base: string): string {
  return `${base}.remotes.json`;
}

/** Replace the health file (atomically: a reader never sees half of it). Rare: once per backoff window. */
export function writeHealth(database: string, health: DaemonHealth): void {
  const file = healthFileOf(database);
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, `${JSON.stringify({ pid: process.pid, updatedAt: Date.now(), ...health }, null, 2)}\n`);
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true }); // a full disk must not keep a half-written temp
    throw err;
  }
}

/** Replace the health file with only the remotes' part (kept for callers that know nothing else). */
export function writeRemoteHealth(database: string, troubled: readonly RemoteTrouble[]): void {
  writeHealth(database, { ...EMPTY, troubled });
}

/** Remove the health file (the daemon stopped). */
export function removeRemoteHealth(database: string): void {
  rmSync(healthFileOf(database), { force: true });
}

/** The pid of the live daemon that wrote the health file, or undefined (a Postgres node has no lock file; this stands in). */
export function healthHolder(base: string): number | undefined {
  try {
    const pid = (JSON.parse(readFileSync(healthFileOf(base), "utf8")) as { pid?: unknown }).pid;
    return typeof pid === "number" && Number.isInteger(pid) && pid > 0 && isAlive(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Everything the daemon with this pid published; empty when the file is missing, stale or unreadable. */
export function readHealth(database: string, pid: number): DaemonHealth {
  try {
    const parsed = JSON.parse(readFileSync(healthFileOf(database), "utf8")) as { pid?: unknown; troubled?: unknown; local?: unknown; queue?: unknown };
    if (parsed.pid !== pid) return EMPTY;
    return {
      troubled: Array.isArray(parsed.troubled) ? (parsed.troubled as RemoteTrouble[]) : [],
      local: Array.isArray(parsed.local) ? (parsed.local as LocalTrouble[]) : [],
      queue: parsed.queue && typeof parsed.queue === "object" ? (parsed.queue as QueueTrouble) : null,
    };
  } catch {
    return EMPTY;
  }
}

/** The remotes the daemon with this pid cannot reach; empty when the file is missing, stale or unreadable. */
export function readRemoteHealth(database: string, pid: number): RemoteTrouble[] {
  return [...readHealth(database, pid).troubled];
}
