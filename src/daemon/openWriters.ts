import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { realpath } from "node:fs/promises";

/** A process holding a file open for writing. */
export interface OpenWriter {
  readonly pid: number;
  readonly fd: number;
}

/** Options of findOpenWriters. */
export interface OpenWritersOptions {
  /** Stop after this many processes (a bound on the cost on a busy machine); default 65536. */
  readonly maxProcesses?: number;
  /** Stop after this long, in ms; default 2000. */
  readonly budgetMs?: number;
  /**
   * Reuse a scan this recent, in ms; default 0 (always scan). A writer that opened the file
   * after the scan is missed, so keep it well below the stability window.
   */
  readonly maxAgeMs?: number;
  /** The proc filesystem; default /proc (tests may point elsewhere). */
  readonly proc?: string;
}

// O_ACCMODE of Linux: 0 read-only, 1 write-only, 2 read-write.
const O_ACCMODE = 0o3;

/** Every open descriptor by the file it points to, from one pass over /proc. */
type FdTable = Map<string, { pid: number; fd: number }[]>;

let cached: { proc: string; at: number; table: FdTable } | undefined;

/**
 * One pass over /proc/PID/fd (bounded by maxProcesses and budgetMs). Synchronous on purpose:
 * /proc answers from memory, and a thousand readlinks through the libuv thread pool would
 * queue behind (and slow down) the uploads' own file reads.
 */
function scanFds(proc: string, maxProcesses: number, budgetMs: number): FdTable {
  const deadline = Date.now() + budgetMs;
  const table: FdTable = new Map();
  let pids: number[];
  try {
    pids = readdirSync(proc).filter((n) => /^\d+$/.test(n)).map(Number);
  } catch {
    return table;
  }
  for (const pid of pids.slice(0, maxProcesses)) {
    if (Date.now() > deadline) break;
    let fds: string[];
    try {
      fds = readdirSync(`${proc}/${pid}/fd`);
    } catch {
      continue; // gone, or another user's process
    }
    for (const fd of fds) {
      let link: string;
      try {
        link = readlinkSync(`${proc}/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      if (!link.startsWith("/")) continue; // sockets, pipes, anon inodes
      let list = table.get(link);
      if (!list) table.set(link, (list = []));
      list.push({ pid, fd: Number(fd) });
    }
  }
  return table;
}

/**
 * The processes that hold `path` open with a write mode, found by scanning /proc/PID/fd for a
 * link to the file and reading the descriptor's flags from /proc/PID/fdinfo/FD (Linux only;
 * an empty list elsewhere). The daemon's own process counts too: its embedded server may be the
 * writer (the daemon's own reads of outbox files are read-only and never match). One
 * scan serves every check within `maxAgeMs` (a burst of outbox files costs one pass).
 *
 * Limits, by design of /proc: only processes whose fd folder this user may read are seen —
 * the same user's, or every process when the daemon runs as root (or has CAP_SYS_PTRACE); a
 * writer on another machine (NFS, SMB) is invisible; a writer that closes the file between
 * its chunks is not holding it at the moment of the scan. The size-and-mtime stability window
 * and the check after the upload cover those cases.
 */
export async function findOpenWriters(path: string, options: OpenWritersOptions = {}): Promise<OpenWriter[]> {
  if (process.platform !== "linux" && options.proc === undefined) return [];
  const proc = options.proc ?? "/proc";
  const target = await realpath(path).catch(() => undefined);
  if (!target) return [];
  const now = Date.now();
  if (!cached || cached.proc !== proc || now - cached.at > (options.maxAgeMs ?? 0)) {
    cached = { proc, at: now, table: scanFds(proc, options.maxProcesses ?? 65_536, options.budgetMs ?? 2000) };
  }
  const found: OpenWriter[] = [];
  for (const { pid, fd } of cached.table.get(target) ?? []) {
    let info: string;
    try {
      // Read now, not from the scan: the descriptor may have closed since.
      if (readlinkSync(`${proc}/${pid}/fd/${fd}`) !== target) continue;
      info = readFileSync(`${proc}/${pid}/fdinfo/${fd}`, "utf8");
    } catch {
      continue;
    }
    const flags = /^flags:\s*([0-7]+)/m.exec(info);
    if (flags && (parseInt(flags[1]!, 8) & O_ACCMODE) !== 0) found.push({ pid, fd });
  }
  return found;
}
