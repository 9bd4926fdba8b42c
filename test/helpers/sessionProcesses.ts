import { readdirSync, readFileSync } from "node:fs";

// vsftpd and pure-ftpd fork one process per session (and a privilege-separated child under
// it). SIGKILLing that subtree cuts a session the hard way (control and data connections
// reset mid-transfer) even under TLS, where a cutting proxy cannot rewrite EPSV replies.

/** Parent PID and state of a process from /proc/<pid>/stat, or undefined once it is gone. */
function procStat(pid: number): { ppid: number; state: string } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ")".
    const [state, ppid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return state && ppid ? { ppid: Number(ppid), state } : undefined;
  } catch {
    return undefined;
  }
}

/** Every live process as pid → parent pid (procps is not needed). */
function parentMap(): Map<number, number> {
  const parents = new Map<number, number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const s = procStat(Number(entry));
    if (s && s.state !== "Z") parents.set(Number(entry), s.ppid);
  }
  return parents;
}

/** The session processes of a forking FTP server: its direct children (one per session). */
export function sessionProcesses(serverPid: number): Set<number> {
  const sessions = new Set<number>();
  for (const [pid, ppid] of parentMap()) if (ppid === serverPid) sessions.add(pid);
  return sessions;
}

/**
 * SIGKILL every session of the server at `serverPid` (each direct child and everything under
 * it) except the sessions in `spare` (from an earlier sessionProcesses call), then wait
 * (bounded, 5 s) until they are dead. Returns the PIDs killed; the server itself is untouched.
 */
export async function killSessionProcesses(serverPid: number, spare: ReadonlySet<number> = new Set()): Promise<number[]> {
  const parents = parentMap();
  const doomed: number[] = [];
  const inDoomedSession = (pid: number): boolean => {
    // Walk up to the server's direct child (bounded: process trees are shallow).
    for (let p = pid, i = 0; i < 64; i++) {
      const parent = parents.get(p);
      if (parent === undefined || p === serverPid) return false;
      if (parent === serverPid) return !spare.has(p);
      p = parent;
    }
    return false;
  };
  for (const pid of parents.keys()) if (inDoomedSession(pid)) doomed.push(pid);
  for (const pid of doomed) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // exited meanwhile
    }
  }
  for (let i = 0; i < 100; i++) {
    // A killed session stays a zombie until the server reaps it: dead enough.
    if (doomed.every((pid) => (procStat(pid)?.state ?? "Z") === "Z")) return doomed;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`session processes ${doomed.join(", ")} of server ${serverPid} did not die within 5 s of SIGKILL`);
}
