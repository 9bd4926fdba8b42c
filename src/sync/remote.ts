import type { Readable, Writable } from "node:stream";
import { isNotFound } from "../client/index.js";
import type { Logger } from "../log/index.js";
import {
  LISTING_DEFAULTS, ListingLimitError, unsafeNameReason, type HashAlgorithm, type RejectedLine,
} from "../protocol/index.js";
import type { PathFilter } from "./filter.js";
import { withRetry, type RetryPolicy } from "./retry.js";
import { addEntry, emptyTree, joinRel, type Entry, type Tree } from "./tree.js";

/** A remote listing entry, as the client reports it (see client RemoteEntry). */
export interface SyncRemoteEntry {
  name: string;
  type: "file" | "dir" | "symlink" | "other";
  size?: number;
  modifiedAt?: Date;
  rawModifiedAt?: string;
  /** MLSD/MLST facts by lowercase name: `unique` identifies a file (partIdentity) or a folder (loop detection). */
  facts?: Readonly<Record<string, string>>;
}

/** Options of one listing: the per-folder cap, and where refused lines go. */
export interface SyncListOptions {
  signal?: AbortSignal;
  /** Most entries one folder's listing may have; the client's default otherwise. */
  maxEntries?: number;
  /** Lines the client refused (unsafe names, unparsable lines). */
  onRejected?: (rejected: RejectedLine) => void;
  /**
   * List over the control connection (STAT) where that is the server's best listing. A folder
   * too large for it ends the connection with a ListingLimitError "controlBytes"; the scan
   * lists that one again without.
   */
  preferControl?: boolean;
}

/**
 * The part of FtpClient the sync engine uses. FtpClient satisfies it; tests can hand in a
 * double. Keeping it narrow documents exactly which server features a mirror relies on.
 */
export interface SyncClient {
  readonly features: { readonly rest: boolean; readonly hash: readonly HashAlgorithm[]; readonly legacyHash: readonly HashAlgorithm[]; readonly size?: boolean };
  list(path?: string, options?: SyncListOptions): Promise<SyncRemoteEntry[]>;
  stat(path: string): Promise<SyncRemoteEntry | undefined>;
  size(path: string): Promise<number>;
  setModifiedTime(path: string, date: Date): Promise<boolean>;
  hash(path: string, options?: { algorithms?: HashAlgorithm[] }): Promise<{ algorithm: HashAlgorithm; value: string } | undefined>;
  download(path: string, destination: Writable, options?: { offset?: number; signal?: AbortSignal }): Promise<number>;
  upload(source: Readable, path: string, options?: { offset?: number; signal?: AbortSignal }): Promise<number>;
  /** Upload bytes held in memory (STOR); when absent, `upload` gets a stream of them. */
  uploadBuffer?(data: Buffer, path: string, options?: { signal?: AbortSignal }): Promise<number>;
  rename(from: string, to: string): Promise<void>;
  /** Set `from`'s mtime (when given) and rename it, in one round trip; optional. Resolves with whether the time was set. */
  renameWithTime?(from: string, to: string, date: Date | undefined): Promise<boolean>;
  remove(path: string): Promise<void>;
  ensureDir(path: string): Promise<void>;
  /** Create one folder whose parent exists (MKD); optional, ensureDir does without it. */
  mkdir?(path: string): Promise<void>;
  rmdir(path: string): Promise<void>;
  /**
   * Take the connection as one pipelined owner, or undefined when the server is driven in
   * lockstep (FtpClient.pipeline); optional: without it every transfer is lockstep.
   */
  pipeline?(owner: string): Promise<SyncPipeline | undefined>;
}

/** A passive data connection asked for in a pipeline (opaque). */
export interface SyncPipelinedData {
  /** The server's reply is in: a transfer over it may be sent. */
  readonly ready: Promise<void>;
  /** Drop it unused; resolves once its reply is in. */
  close(): Promise<void>;
}

/**
 * The pipelined commands the sync engine uses (the client's FtpPipeline): each sends at once,
 * replies are matched in order; nothing waits unless the caller awaits.
 */
export interface SyncPipeline {
  passive(download?: boolean): SyncPipelinedData;
  store(path: string, bytes: Buffer, data: SyncPipelinedData, signal?: AbortSignal): Promise<number>;
  retrieve(path: string, destination: Writable, data: SyncPipelinedData, signal?: AbortSignal): Promise<number>;
  size(path: string): Promise<number>;
  hash(path: string, algorithms: readonly HashAlgorithm[]): Promise<{ algorithm: HashAlgorithm; value: string } | undefined>;
  renameWithTime(from: string, to: string, date: Date | undefined): Promise<boolean>;
  release(): void;
}

/** A pool of connections to one remote (the client's ClientPool). */
export interface SyncPool {
  use<T>(fn: (client: SyncClient) => Promise<T>): Promise<T>;
}

/** The remote path of a relative tree path under a remote root ("" or "." is the login folder). */
export function remotePathOf(root: string, rel: string): string {
  const base = root === "." ? "" : root.replace(/\/+$/, "");
  if (rel === "") return base === "" ? (root.startsWith("/") ? "/" : ".") : base;
  return base === "" ? (root.startsWith("/") ? `/${rel}` : rel) : `${base}/${rel}`;
}

/** Whether a remote error means "no such file or folder" (the client's isNotFound). */
export { isNotFound };

/** A remote entry as a tree entry; only MLSD/MLST/MDTM times count as precise (STYLE 4). */
export function remoteEntry(dir: string, e: SyncRemoteEntry): Entry {
  const type = e.type === "dir" ? "dir" : "file";
  const stamp = e.modifiedAt ? String(e.modifiedAt.getTime()) : e.rawModifiedAt;
  return {
    path: joinRel(dir, e.name), name: e.name, type, size: type === "dir" ? 0 : e.size ?? 0,
    ...(e.modifiedAt ? { mtime: e.modifiedAt } : {}), mtimePrecise: e.modifiedAt !== undefined,
    ...(stamp !== undefined ? { stamp } : {}),
  };
}

/** Refused lines of one folder kept for the report; the client logs and counts the rest. */
const MAX_REJECTED_PER_DIR = 100;

/**
 * A login costs about this many listings' worth of round trips (connect, greeting, USER,
 * PASS, FEAT, OPTS, TYPE against EPSV, LIST and its 226).
 */
const LISTINGS_PER_LOGIN = 3;

/**
 * The least a login is taken to cost, in ms: on loopback a listing takes a few ms while a
 * login costs a fork and PAM on vsftpd (PASS alone about 100 ms, measured), so a fast
 * server is walked on few connections, as before.
 */
const MIN_LOGIN_MS = 100;

/**
 * Folders too large to list over the control connection after which a scan lists the rest
 * over data connections: each one cost a connection (the reply cannot be cut short).
 */
const MAX_CONTROL_OVERFLOWS = 3;

/** Listings started but not yet merged, per connection allowed: bounds the listings held in memory. */
const WINDOW_PER_CONNECTION = 2;

/** Caps on a remote scan (FAULTS B8, I10); defaults in LISTING_DEFAULTS. */
export interface ListingLimits {
  /** Entries of the whole scan. */
  maxEntries?: number;
  /** Entries of one folder. */
  maxDirEntries?: number;
  /** Folder depth below the root. */
  maxDepth?: number;
}

/** Options of scanRemote. */
export interface RemoteScanOptions extends ListingLimits {
  /** Most folders listed at once (the mirror's --parallel; the pool bounds it too); default 4. */
  concurrency?: number;
  /**
   * Waiting folders that justify one more listing connection, asked again whenever a listing
   * ends. A run about to transfer opens its connections anyway and says 1. Undefined (or no
   * function): decided from the listings' measured time against a login's estimated cost.
   */
  dirsPerConnection?: () => number | undefined;
  filter?: PathFilter;
  /** Whether an error deserves another try (the client's isRetriable). */
  isRetriable: (err: unknown) => boolean;
  retry?: RetryPolicy;
  logger?: Logger;
  signal?: AbortSignal;
  /** Clock for the listing and connection wait times, in ms; default performance.now. */
  now?: () => number;
}

/** One folder's listing as it came back, waiting to be merged in walk order. */
interface Listed {
  readonly dir: string;
  outcome?: { entries: SyncRemoteEntry[]; rejected: RejectedLine[] } | { error: unknown };
}

/**
 * List a remote folder tree into a Tree, folders as work items served by up to `concurrency`
 * pool connections at once. The client lists with the server's best listing (over the control
 * connection where that loses no facts, else MLSD, else LIST; client/controlListing.ts), and
 * has already dropped names that could escape (checked again here). A missing root is
 * an empty tree; symlinks and special entries are skipped and reported.
 *
 * Listings run in parallel but are merged strictly in the order a one-connection
 * breadth-first walk would merge them: the tree, `skipped`, the caps, loop detection by MLSD
 * `unique` (which of two folders with one unique is the loop) and the error a failed scan
 * ends with are the same whatever order the replies arrive in. The queue holds folder paths;
 * at most WINDOW_PER_CONNECTION listings per connection wait to be merged.
 */
export async function scanRemote(pool: SyncPool, root: string, options: RemoteScanOptions): Promise<Tree> {
  const tree = emptyTree();
  const retry = { isRetriable: options.isRetriable, ...(options.retry ? { policy: options.retry } : {}) };
  // The root is listed straight away. Only a listing that cannot tell (empty, or one file) is
  // followed by a stat: some servers answer a listing of a missing folder with an empty one
  // (vsftpd, pure-ftpd's LIST), and a listing of a file with that file. A missing source must
  // never look like an empty one.
  const checkRoot = async (entries: SyncRemoteEntry[]): Promise<boolean> => {
    if (/^(\.|\/|)$/.test(root) || entries.length > 1 || (entries.length === 1 && entries[0]!.type === "dir")) return true;
    const st = await withRetry(() => pool.use((c) => c.stat(root)), retry);
    if (!st) return false;
    if (st.type === "file") throw new Error(`${root} is a file on the server, not a folder: use ferry get / put for one file`);
    return true;
  };
  const max = Math.max(1, options.concurrency ?? 4);
  const maxEntries = options.maxEntries ?? LISTING_DEFAULTS.maxEntries;
  const maxDirEntries = options.maxDirEntries ?? LISTING_DEFAULTS.maxDirEntries;
  const maxDepth = options.maxDepth ?? LISTING_DEFAULTS.maxDepth;
  const now = options.now ?? (() => performance.now());
  let total = 0;
  /** Folders by their MLSD unique fact, for loop detection. */
  const uniques = new Map<string, string>();
  /** Folders to list, in walk order (breadth first). */
  const waiting: string[] = [""];
  /** Listings started and not merged yet, in walk order. */
  const window: Listed[] = [];
  let active = 0;
  /** Most listings run at once so far: the connections the scan has already paid a login for. */
  let widest = 1;
  /** Time spent in listings (inside the connection, without waiting for one or logging in) and their count. */
  let listMs = 0;
  let listed = 0;
  /** The longest wait for a connection (a login when the pool had none idle): a measured login cost. */
  let slowestAcquire = 0;
  /** Folders that were too large for a control-connection listing (see MAX_CONTROL_OVERFLOWS). */
  let controlOverflows = 0;
  const signal = options.signal;
  signal?.throwIfAborted();

  await new Promise<void>((resolve, reject) => {
    let done = false;
    let merging = false;
    const finish = (err?: unknown): void => {
      if (done) return;
      done = true;
      signal?.removeEventListener("abort", onAbort);
      if (err === undefined) resolve();
      else reject(err);
    };
    // Stop at once: listings in flight see the signal too and end on their own.
    const onAbort = (): void => finish(signal!.reason);
    signal?.addEventListener("abort", onAbort, { once: true });

    /** How many listings may run now: more connections only when the waiting folders pay for their logins. */
    const limit = (): number => {
      const per = options.dirsPerConnection?.();
      if (per !== undefined) return Math.min(max, Math.max(widest, 1 + Math.floor(waiting.length / Math.max(1, per))));
      if (listed === 0) return 1;
      const avg = listMs / listed;
      const loginMs = Math.max(LISTINGS_PER_LOGIN * avg, MIN_LOGIN_MS, slowestAcquire);
      // The connections already open keep listing while a new one logs in; of the folders
      // left after that, each new connection must get LISTINGS_PER_LOGIN, a login's worth.
      // (Counting the whole queue against one login instead starves the walk of connections
      // when listings are cheap - one round trip over the control connection - although
      // they are as many as before.) Connections opened for the scan cost nothing more.
      const left = waiting.length + active - widest * loginMs / avg;
      return Math.min(max, Math.max(widest, widest + Math.floor(left / LISTINGS_PER_LOGIN)));
    };

    const pump = (): void => {
      if (done) return;
      const cap = limit();
      while (active < cap && waiting.length > 0 && window.length < max * WINDOW_PER_CONNECTION) {
        const slot: Listed = { dir: waiting.shift()! };
        window.push(slot);
        active++;
        widest = Math.max(widest, active);
        void listDir(slot.dir).then((outcome) => {
          slot.outcome = outcome;
          active--;
          void merge();
        });
      }
      if (active === 0 && waiting.length === 0 && window.length === 0 && !merging) finish();
    };

    /** Merge finished listings in walk order; a failure ends the scan with the error a sequential walk would give. */
    const merge = async (): Promise<void> => {
      if (merging || done) return;
      merging = true;
      try {
        while (!done && window[0]?.outcome) {
          const slot = window.shift()!;
          await mergeDir(slot.dir, slot.outcome!);
        }
      } catch (err) {
        finish(err);
        return;
      } finally {
        merging = false;
      }
      pump();
    };
    pump();
  });
  return tree;

  /** List one folder; never rejects: the outcome is merged (or thrown) in walk order. */
  async function listDir(dir: string): Promise<NonNullable<Listed["outcome"]>> {
    let rejected: RejectedLine[] = [];
    const listOnce = (preferControl: boolean): Promise<SyncRemoteEntry[]> => {
      rejected = []; // a retried listing reports its refusals once
      const asked = now();
      return pool.use(async (c) => {
        const started = now();
        slowestAcquire = Math.max(slowestAcquire, started - asked);
        const list = await c.list(remotePathOf(root, dir), {
          ...(signal ? { signal } : {}), maxEntries: maxDirEntries, preferControl,
          onRejected: (r) => void (rejected.length < MAX_REJECTED_PER_DIR && rejected.push(r)),
        });
        listMs += now() - started;
        listed++;
        return list;
      });
    };
    try {
      const entries = await withRetry(async () => {
        try {
          return await listOnce(controlOverflows < MAX_CONTROL_OVERFLOWS);
        } catch (err) {
          if (!(err instanceof ListingLimitError && err.limit === "controlBytes")) throw err;
          // Too large for the control connection (which it ended): over a data connection, at once.
          controlOverflows++;
          return listOnce(false);
        }
      }, { ...retry, ...(signal ? { signal } : {}) });
      return { entries, rejected };
    } catch (error) {
      return { error };
    }
  }

  async function mergeDir(dir: string, outcome: NonNullable<Listed["outcome"]>): Promise<void> {
    if ("error" in outcome) {
      const err = outcome.error;
      if (dir === "" && isNotFound(err)) { tree.missing = true; return; } // a destination that does not exist yet is empty
      throw new Error(`list ${remotePathOf(root, dir)}: ${(err as Error).message}`, { cause: err });
    }
    const { entries, rejected } = outcome;
    if (dir === "" && !(await checkRoot(entries))) { tree.missing = true; return; }
    if (!tree.dirs.has(dir)) tree.dirs.set(dir, []);
    // Refused names are part of the result, not only of the log (FAULTS B1): path, name, reason.
    for (const r of rejected) {
      const name = r.name ?? r.line;
      const reason = r.name !== undefined ? `unsafe name from the server (${r.reason})` : `unreadable listing line (${r.reason})`;
      tree.skipped.push({ path: joinRel(dir, printable(name)), name, reason, rejected: true });
    }
    total += entries.length;
    if (total > maxEntries) {
      throw new ListingLimitError("entries", maxEntries, `the remote tree under ${root} has more than ${maxEntries} entries`);
    }
    const depth = dir === "" ? 1 : dir.split("/").length + 1;
    for (const e of entries) {
      const path = joinRel(dir, e.name);
      const unsafe = unsafeNameReason(e.name);
      if (unsafe) {
        tree.skipped.push({ path: joinRel(dir, printable(e.name)), name: e.name, reason: `unsafe name from the server (${unsafe})`, rejected: true });
        continue;
      }
      if (e.type !== "file" && e.type !== "dir") {
        tree.skipped.push({ path, reason: e.type === "symlink" ? "remote symlink" : "not a regular file or folder" });
        continue;
      }
      const entry = remoteEntry(dir, e);
      if (options.filter && !options.filter.accepts(path, entry.type)) continue;
      if (entry.type === "dir") {
        // A server that follows a link to an ancestor (or lists a folder inside every folder)
        // makes the walk endless: the unique fact, where given, names the same folder twice.
        const unique = e.facts?.unique;
        const seen = unique !== undefined ? uniques.get(unique) : undefined;
        if (seen !== undefined) {
          tree.skipped.push({ path, reason: `folder loop: the server lists the same folder as ${seen || "the root"} (MLSD unique=${unique})` });
          continue;
        }
        if (depth > maxDepth) {
          throw new ListingLimitError("depth", maxDepth,
            `the remote tree under ${root} is deeper than ${maxDepth} folders (at ${path.slice(0, 200)}); a server listing a folder inside every folder never ends`);
        }
        if (unique !== undefined) uniques.set(unique, path);
      }
      addEntry(tree, dir, entry);
      if (entry.type === "dir") waiting.push(path);
    }
  }
}

/** A name shown in a report: control characters escaped, cut to 200 characters. */
function printable(name: string): string {
  // eslint-disable-next-line no-control-regex
  const shown = name.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
  return shown.length > 200 ? `${shown.slice(0, 200)}…` : shown;
}
