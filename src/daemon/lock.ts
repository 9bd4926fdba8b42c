import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

/** The lock file beside a database: it holds the pid of the daemon that owns the database. */
export function lockFileOf(database: string): string {
  return `${database}.lock`;
}

/** Whether a process with this pid exists (signal 0 checks without signalling). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The pid of the live daemon holding the database, or undefined. */
export function lockHolder(database: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(lockFileOf(database), "utf8");
  } catch {
    return undefined;
  }
  const pid = Number(text.trim());
  return Number.isInteger(pid) && pid > 0 && isAlive(pid) ? pid : undefined;
}

/** A second daemon on the same database: refused, since each would treat the other's leases as stale. */
export class DatabaseLockedError extends Error {
  override readonly name = "DatabaseLockedError";
}

/**
 * Take the database for this process: one daemon per database. A lock left by a dead process
 * (SIGKILL, power loss) is taken over. Holding the lock is what lets the daemon treat every
 * lease in the database as abandoned at start. Returns the release function.
 */
export function acquireLock(database: string): () => void {
  const file = lockFileOf(database);
  mkdirSync(dirname(file), { recursive: true });
  for (let tries = 0; tries < 3; tries++) {
    try {
      writeFileSync(file, `${process.pid}\n`, { flag: "wx" });
      return () => {
        try {
          if (readFileSync(file, "utf8").trim() === String(process.pid)) unlinkSync(file);
        } catch {
          // already gone: nothing to release
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const holder = lockHolder(database);
      if (holder !== undefined && holder !== process.pid) {
        throw new DatabaseLockedError(`${database} is in use by another ferry daemon (pid ${holder}); stop it first, or give this config another database`);
      }
      unlinkSync(file); // stale: its process is gone
    }
  }
  throw new DatabaseLockedError(`could not take the lock ${file}; is another daemon starting at the same moment?`);
}
