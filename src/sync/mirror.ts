import type { Logger } from "../log/index.js";
import type { TokenBucket } from "./bwlimit.js";
import { executePlan, type ExecuteResult, type ProgressSink } from "./execute.js";
import { deleteRefusal as refuseDeletes, entryCounts, type EntryCounts, type MaxDelete } from "./deleteGuard.js";
import type { PathFilter } from "./filter.js";
import { march } from "./march.js";
import { buildPlan, type Direction, type Plan } from "./plan.js";
import { remotePathOf, scanRemote, type ListingLimits, type SyncPool } from "./remote.js";
import type { RetryPolicy } from "./retry.js";
import type { SyncState } from "./state.js";
import { localPathOf } from "./transfer.js";
import { scanLocal, type Entry, type Tree } from "./tree.js";
import { canHash, hashLocalFile } from "./verify.js";

/** Options of runMirror: one side local, the other remote, and the CLI's switches. */
export interface MirrorOptions {
  /** upload: local → remote; download: remote → local. */
  direction: Direction;
  localRoot: string;
  remoteRoot: string;
  pool: SyncPool;
  /** The client's isRetriable. */
  isRetriable: (err: unknown) => boolean;
  /** Delete extraneous destination entries (after an error-free run); default false. */
  delete?: boolean;
  /** Delete even when the source holds no files; default false (deleteGuard.ts). */
  allowEmptySource?: boolean;
  /** The most deletions allowed; default unlimited (deleteGuard.ts). */
  maxDelete?: MaxDelete;
  /** How the source and the destination are named in a refusal; default the local path and the remote root. */
  names?: { source: string; destination: string };
  /** Plan only; touch nothing; default false. */
  dryRun?: boolean;
  /** Compare by checksum where the server can hash; default false. */
  checksum?: boolean;
  /** Parallel transfers and listings; default 4. */
  parallel?: number;
  filter?: PathFilter;
  bucket?: TokenBucket;
  followSymlinks?: boolean;
  /** Caps on the remote scan: entries in all and per folder, depth (FAULTS B8). */
  listingLimits?: ListingLimits;
  state?: SyncState;
  /** Folder of the partial files' source identities when the state is not a file (execute.ts recordsDir). */
  recordsDir?: string;
  modifyWindowMs?: number;
  retry?: RetryPolicy;
  progress?: ProgressSink & { planned?(plan: Plan): void };
  logger?: Logger;
  signal?: AbortSignal;
  /**
   * Asked to have up to `n` connections logged in ahead of need, when the local side and the
   * sync state say transfers are coming, so logins overlap the remote scan instead of
   * following it (a login costs tens of ms of server CPU on PAM servers). Optional.
   */
  warm?: (n: number) => void;
}

/** What a mirror run found and did. */
export interface MirrorOutcome {
  plan: Plan;
  /** Undefined for a dry run. */
  result?: ExecuteResult;
  /** Entries left out while scanning (symlinks, special files, unsafe names). */
  skipped: { path: string; reason: string }[];
  /** Whether --checksum could be honoured (the server can hash). */
  checksumAvailable?: boolean;
  /** Why the plan's deletions were (or, in a dry run, would be) refused; see deleteGuard.ts. */
  deleteRefusal?: string;
  /** Files and entries of each side as scanned, for a deletion guard applied later (a distributed run's finish). */
  counts: { source: EntryCounts; destination: EntryCounts };
  /** Entries a destination folder held at scan time (0 when unknown), for upload batching done later. */
  listedEntries: (dir: string) => number;
}

/** The mirror lifecycle: scan both sides, (hash), plan, execute, record state (STYLE 10). */
export async function runMirror(o: MirrorOptions): Promise<MirrorOutcome> {
  const { src, dst } = await scanSides(o);
  if (src.missing) {
    // Never treat a mistyped source as an empty one: with --delete that would wipe the destination.
    throw new Error(`the source folder ${o.direction === "upload" ? o.localRoot : o.remoteRoot} does not exist`);
  }
  let checksumAvailable: boolean | undefined;
  if (o.checksum) checksumAvailable = await addChecksums(src, dst, o);
  const plan = buildPlan(src, dst, {
    direction: o.direction, delete: o.delete ?? false, checksum: o.checksum ?? false,
    ...(o.modifyWindowMs !== undefined ? { modifyWindowMs: o.modifyWindowMs } : {}),
    ...(o.state ? { state: o.state } : {}), ...(o.logger ? { logger: o.logger } : {}),
  });
  o.progress?.planned?.(plan);
  const skipped = [...src.skipped, ...dst.skipped];
  const [srcName, dstName] = o.direction === "upload" ? [o.localRoot, o.remoteRoot] : [o.remoteRoot, o.localRoot];
  const deleteRefusal = o.delete ? refuseDeletes(plan, src, dst, {
    sourceName: o.names?.source ?? srcName, destinationName: o.names?.destination ?? dstName,
    ...(o.allowEmptySource !== undefined ? { allowEmptySource: o.allowEmptySource } : {}),
    ...(o.maxDelete ? { maxDelete: o.maxDelete } : {}),
  }) : undefined;
  const base = {
    plan, skipped, counts: { source: entryCounts(src), destination: entryCounts(dst) },
    listedEntries: (dir: string) => dst.dirs.get(dir)?.length ?? 0, ...(checksumAvailable !== undefined ? { checksumAvailable } : {}),
    ...(deleteRefusal !== undefined ? { deleteRefusal } : {}),
  };
  if (o.dryRun) return base;
  const result = await executePlan(plan, {
    localRoot: o.localRoot, remoteRoot: o.remoteRoot, pool: o.pool, isRetriable: o.isRetriable,
    parallel: o.parallel ?? 4, delete: o.delete ?? false, filtered: o.filter !== undefined, ...(deleteRefusal !== undefined ? { deleteRefusal } : {}),
    ...(o.bucket ? { bucket: o.bucket } : {}), ...(o.retry ? { retry: o.retry } : {}),
    ...(o.state ? { state: o.state } : {}), ...(o.recordsDir ? { recordsDir: o.recordsDir } : {}), ...(o.progress ? { progress: o.progress } : {}),
    ...(o.logger ? { logger: o.logger } : {}), ...(o.signal ? { signal: o.signal } : {}),
    listedEntries: (dir) => dst.dirs.get(dir)?.length ?? 0,
  });
  await o.state?.save();
  return { ...base, result };
}

async function scanSides(o: MirrorOptions): Promise<{ src: Tree; dst: Tree }> {
  const parallel = o.parallel ?? 4;
  let transfersExpected = false;
  const local = scanLocal(o.localRoot, {
    followSymlinks: o.followSymlinks ?? false,
    ...(o.filter ? { filter: o.filter } : {}), ...(o.logger ? { logger: o.logger } : {}),
  }).then((tree) => {
    const expected = expectedTransfers(tree, o.direction, o.state);
    transfersExpected = expected >= TRANSFERS_PER_WARM_CONNECTION;
    if (transfersExpected && !o.dryRun) o.warm?.(Math.min(parallel, Math.ceil(expected / TRANSFERS_PER_WARM_CONNECTION)));
    return tree;
  });
  const remote = scanRemote(o.pool, o.remoteRoot, {
    concurrency: parallel, isRetriable: o.isRetriable,
    // Connections about to be opened for transfers may as well list folders first; otherwise
    // the scan widens when the listings' measured time pays for the logins (remote.ts).
    dirsPerConnection: () => (transfersExpected && !o.dryRun ? 1 : undefined),
    ...(o.filter ? { filter: o.filter } : {}), ...(o.retry ? { retry: o.retry } : {}),
    ...(o.logger ? { logger: o.logger } : {}), ...(o.signal ? { signal: o.signal } : {}), ...o.listingLimits,
  });
  const [l, r] = await Promise.all([local, remote]);
  return o.direction === "upload" ? { src: l, dst: r } : { src: r, dst: l };
}

/** Expected transfers that justify logging in one more connection ahead of need. */
const TRANSFERS_PER_WARM_CONNECTION = 16;

/**
 * A cheap guess, before the remote side is known, of how many files will move: for an
 * upload, local files the sync state does not record with their current size and stamp; for
 * a download, recorded files that are missing locally or have another size (everything when
 * there is no state yet). Only used to decide how many connections to open early.
 */
export function expectedTransfers(local: Tree, direction: "upload" | "download", state: SyncState | undefined): number {
  let n = 0;
  if (direction === "upload") {
    for (const list of local.dirs.values()) {
      for (const e of list) {
        if (e.type !== "file") continue;
        const rec = state?.get(e.path);
        if (!rec || rec.size !== e.size || rec.srcStamp !== e.stamp) n++;
      }
    }
    return n;
  }
  if (!state || state.size === 0) return Number.MAX_SAFE_INTEGER;
  const sizes = new Map<string, number>();
  for (const list of local.dirs.values()) for (const e of list) if (e.type === "file") sizes.set(e.path, e.size);
  for (const [path, rec] of state.entries()) if (sizes.get(path) !== rec.size) n++;
  return n;
}

/**
 * For --checksum: hash both sides of every pair of files whose sizes agree (others differ
 * anyway), in the algorithm the server prefers. Returns false when the server cannot hash,
 * and the comparison falls back to size and mtime (the result says so).
 */
async function addChecksums(src: Tree, dst: Tree, o: MirrorOptions): Promise<boolean> {
  const pairs: [Entry, Entry][] = [];
  march(src, dst, {
    srcOnly: () => false, dstOnly: () => false,
    match: (s, d) => { if (s.type === "file" && d.type === "file" && s.size === d.size) pairs.push([s, d]); return s.type === "dir" && d.type === "dir"; },
  });
  const able = await o.pool.use(async (c) => canHash(c.features));
  if (!able) {
    o.logger?.warn("the server offers no checksum command: --checksum falls back to size and modification time");
    return false;
  }
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < pairs.length) {
      const [s, d] = pairs[next++]!;
      const [localE, remoteE] = o.direction === "upload" ? [s, d] : [d, s];
      const remote = await o.pool.use((c) => c.hash(remotePathOf(o.remoteRoot, remoteE.path)));
      if (!remote) continue;
      remoteE.hash = remote;
      localE.hash = { algorithm: remote.algorithm, value: await hashLocalFile(localPathOf(o.localRoot, localE.path), remote.algorithm) };
    }
  };
  await Promise.all(Array.from({ length: Math.min(o.parallel ?? 4, pairs.length) }, worker));
  return true;
}
