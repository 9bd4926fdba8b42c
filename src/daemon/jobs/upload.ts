import { constants as fsConstants } from "node:fs";
import { copyFile, mkdir, open, rename, stat, unlink, utimes } from "node:fs/promises";
import { basename, dirname, extname, join, posix, relative, sep } from "node:path";
import type { FtpClient } from "../../client/index.js";
import type { Logger } from "../../log/index.js";
import { RetryLaterError, type HandlerResult, type JobHandler } from "../../queue/index.js";
import {
  canHash, hashLocalFile, loadRecord, partKey, remotePartPath, sameDigest, SMALL_FILE_BYTES, transferFile, VerifyError, type SyncClient, type TransferOutcome,
} from "../../sync/index.js";
import type { HashAlgorithm } from "../../protocol/index.js";
import type { AfterAction, UploadJob } from "../config.js";
import { PermanentJobError } from "../errors.js";
import { findOpenWriters, type OpenWriter } from "../openWriters.js";
import type { BandwidthLimits } from "../bandwidth.js";
import type { RemoteRegistry } from "../remotes.js";
import type { TransferredFile } from "../hooks/index.js";
import type { TransferProgress } from "../activity.js";
import { UploadLane } from "./uploadLane.js";

/** What the upload runner needs. */
export interface UploadRunnerDeps {
  readonly jobs: ReadonlyMap<string, UploadJob>;
  readonly remotes: RemoteRegistry;
  readonly logger: Logger;
  /** The daemon's bandwidth limits; default none. */
  readonly bandwidth?: BandwidthLimits;
  /** Default Date.now. */
  readonly now?: () => number;
  /** Who holds a file open for writing; default a /proc scan (findOpenWriters). */
  readonly openWriters?: (path: string, stableMs: number) => Promise<readonly OpenWriter[]>;
  /** Told of each verified file before the job completes (hooks: at least once). */
  readonly onTransferred?: (job: string, files: readonly TransferredFile[]) => void | Promise<void>;
  /** Hears the file's bytes (the daemon's running-transfers view and metrics). */
  readonly progress?: TransferProgress;
}

/**
 * How long a job waits for a writer that keeps its outbox file open, counted from the job's
 * creation: a log file held open for days must still be sent some time (then the check after
 * the upload still refuses to archive a file that changed).
 */
export const OPEN_WRITER_MAX_WAIT_MS = 3_600_000;

/** The outbox's per-file transfer makes one attempt: the queue's backoff retries the job. */
const ONE_ATTEMPT = { attempts: 1, baseMs: 0, capMs: 0 };

/** Where an outbox file goes: the target folder plus its path below the watched folder. */
export function remotePathFor(job: UploadJob, localPath: string): string {
  const rel = relative(job.watch, localPath);
  if (rel === "" || rel.startsWith("..") || rel.startsWith(sep)) throw new PermanentJobError(`${localPath} is not inside the outbox ${job.watch}`);
  return posix.join(job.remoteDir, rel.split(sep).join("/"));
}

/**
 * The handler of `upload` jobs: one stable outbox file, uploaded in its current form through
 * the sync engine's atomic publish (`.NAME.ferry-part`, verify size and hash, rename), then
 * kept, deleted or moved. Idempotent, so a job re-run after a crash does no harm: a final name
 * that already holds these bytes is not sent again, and a file already gone after a finished
 * upload completes the job.
 */
export function createUploadHandler(deps: UploadRunnerDeps): JobHandler<"upload"> {
  const now = deps.now ?? Date.now;
  // A scan serves the checks of a burst of files for up to 250 ms, and never longer than half
  // the stability window: a writer of a stable file opened it at least a window ago, so the
  // scan that is reused was taken after that open.
  const openWriters = deps.openWriters ?? ((p: string, stableMs: number) => findOpenWriters(p, { maxAgeMs: Math.min(250, stableMs / 2) }));
  /** Defer while a process holds the file open for writing (bounded by OPEN_WRITER_MAX_WAIT_MS). */
  const waitForWriters = async (path: string, createdAt: number, stableMs: number, log: Logger, when: string): Promise<void> => {
    const writers = await openWriters(path, stableMs).catch(() => []);
    if (writers.length === 0) return;
    const pids = writers.map((w) => w.pid).join(", ");
    if (now() - createdAt > OPEN_WRITER_MAX_WAIT_MS) {
      log.warn({ pids, waitedMs: now() - createdAt }, `${path} is still open for writing (pid ${pids}) after an hour; sent as it is`);
      return;
    }
    throw new RetryLaterError(`${path} is still open for writing by pid ${pids} (${when}); waiting for it to close`, { delayMs: Math.max(stableMs, 200) });
  };
  /** The outbox lane of each remote, made at its first file. */
  const lanes = new Map<string, UploadLane>();
  const laneOf = (remote: string): UploadLane => {
    let lane = lanes.get(remote);
    if (!lane) lanes.set(remote, (lane = new UploadLane({ remotes: deps.remotes, remote, logger: deps.logger, now })));
    return lane;
  };
  return async (job, ctx): Promise<HandlerResult> => {
    const cfg = deps.jobs.get(job.payload.job);
    if (!cfg) throw new PermanentJobError(`upload job "${job.payload.job}" is no longer in the config`);
    const path = job.payload.path;
    const remotePath = remotePathFor(cfg, path);
    const log = deps.logger.child({ job: cfg.name, jobId: job.id, file: path, remote: cfg.remote });
    const st = await stat(path).catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") return undefined;
      throw err;
    });
    if (!st) return finishVanished(cfg, { path, size: job.payload.size }, remotePath, deps, log, ctx.signal);
    if (!st.isFile()) throw new PermanentJobError(`${path} is no longer a regular file`);
    // The file changed after it was found stable: once it is quiet again, its final form is sent.
    const changed = st.size !== job.payload.size || st.mtimeMs !== job.payload.mtimeMs;
    const quietFor = now() - st.mtimeMs;
    if (changed && quietFor < cfg.stableMs) throw new RetryLaterError(`${path} is still being written`, { delayMs: Math.ceil(cfg.stableMs - quietFor) });
    // Quiet is not done: a writer that paused longer than the window still holds it open (D9).
    // Checked once, here: a writer that opens the file only during the upload and has not
    // written by its end is the one case left (the check below sees any write).
    await waitForWriters(path, job.createdAt, cfg.stableMs, log, "before the upload");
    const started = now();
    const bucket = deps.bandwidth?.for(cfg.remote);
    const dir = posix.dirname(remotePath);
    // Only a retry (its last run may have published before dying) or a kept file (found again
    // at every start) can already be there; a first upload skips the extra round trips.
    const mayBeThere = job.attempts > 1 || cfg.after.kind === "keep";
    // A retry resumes the partial, also one that used no attempt (a cut connection defers
    // the job as an outage): a record of what an earlier run started sending says there
    // is a partial worth asking for. The transfer then resumes only onto bytes of this
    // very file (B11: the record, or a checksum, proves it) and starts over otherwise.
    const partialMayExist = job.attempts > 1 || (await loadRecord(partKey("upload", { localPath: path, remotePath }))) !== undefined;
    let outcome: TransferOutcome | { bytes: 0; verified: string; skipped: true };
    let begun = false;
    let ok = false;
    const begin = (): void => {
      if (begun) return;
      begun = true;
      deps.progress?.started(job.id, path, st.size);
    };
    try {
      // A fresh small file without a bandwidth limit streams through the remote's lane
      // (uploadLane.ts); the others, and every file of a server driven in lockstep, go alone.
      const streamed = !bucket && !partialMayExist && st.size <= SMALL_FILE_BYTES
        ? await laneOf(cfg.remote).upload({
          localPath: path, remotePath, size: st.size, mayBeThere, signal: ctx.signal, onStart: begin, onBytes: (n) => deps.progress?.bytes(job.id, n),
        })
        : { kind: "lockstep" as const };
      if (streamed.kind === "sent") outcome = streamed.outcome;
      else if (streamed.kind === "present") outcome = { bytes: 0, verified: streamed.verified, skipped: true };
      else {
        const present = await deps.remotes.use(cfg.remote, async (client) => {
          await deps.remotes.ensureDir(cfg.remote, client, dir);
          return mayBeThere ? alreadyThere(client, path, st.size, remotePath) : undefined;
        }, ctx.signal);
        if (present) outcome = { bytes: 0, verified: present, skipped: true };
        else {
          // One attempt: the queue retries the job. No mtime is set on the server: in an inbox
          // the arrival time is what readers go by.
          begin();
          outcome = await transferFile({ localPath: path, remotePath, size: st.size }, {
            direction: "upload", pool: deps.remotes.syncPool(cfg.remote, ctx.signal), retry: ONE_ATTEMPT, partialMayExist, signal: ctx.signal,
            onBytes: (n) => deps.progress?.bytes(job.id, n), ...(bucket ? { bucket } : {}),
          });
        }
      }
      ok = true;
    } catch (err) {
      deps.remotes.forgetDir(cfg.remote, dir);
      if (err instanceof VerifyError) outcome = await deps.remotes.use(cfg.remote, (client) => verifyFailed(client, err, path, st.size, remotePath, cfg), ctx.signal);
      else throw err;
    } finally {
      if (begun) deps.progress?.done(job.id, path, ok);
    }
    if ("skipped" in outcome) log.info({ remotePath, verified: outcome.verified }, "already on the server with the same bytes; not sent again");
    if (cfg.after.kind !== "keep") {
      // The after-action destroys the outbox copy: only a file that is still exactly what was
      // sent may go. A writer that resumed (or still holds it open) would otherwise write the
      // rest into sent/ and the server would keep the half it got (D9).
      const why = await changedSince(path, st, "hash" in outcome ? outcome.hash : undefined);
      if (why) {
        log.warn({ remotePath, why }, "changed during the upload; sent again once quiet, not archived");
        throw new RetryLaterError(`${path} changed during its upload (${why}); it is sent again once it is quiet`, { delayMs: cfg.stableMs });
      }
      await applyAfter(cfg.after, cfg, path, log);
      await removeMarker(cfg, path);
    } else {
      await removeMarker(cfg, path);
    }
    const durationMs = Math.max(0, now() - started);
    log.info({ remotePath, bytes: st.size, sent: outcome.bytes, durationMs, verified: outcome.verified }, "uploaded");
    // A kept file found again at start was recorded by the job that sent it; a retry's earlier
    // run published it but died before recording it, so the retry records it (once in all).
    if ("skipped" in outcome && job.attempts <= 1) return {};
    await deps.onTransferred?.(cfg.name, [{ path: remotePath, source: path, bytes: st.size, verified: outcome.verified, ...("hash" in outcome && outcome.hash ? { hash: outcome.hash } : {}) }]);
    return { transfers: [{ path: remotePath, bytes: st.size, durationMs, verified: outcome.verified }] };
  };
}

/**
 * Why the local file is no longer what was sent, or undefined when it still is: its size or
 * mtime moved, or (when the upload verified a checksum) its bytes hash differently now.
 */
async function changedSince(path: string, sent: { size: number; mtimeMs: number }, hash: { algorithm: HashAlgorithm; value: string } | undefined): Promise<string | undefined> {
  const now = await stat(path).catch(() => undefined);
  if (!now) return undefined; // gone: nothing left to archive
  if (now.size !== sent.size) return `size ${sent.size} → ${now.size}`;
  if (now.mtimeMs !== sent.mtimeMs) return "modification time moved";
  if (hash && !sameDigest(await hashLocalFile(path, hash.algorithm), hash.value)) return `${hash.algorithm} differs from the bytes sent`;
  return undefined;
}

/** The hash algorithm by which the final name already holds exactly this file, or undefined. */
async function alreadyThere(client: FtpClient, localPath: string, size: number, remotePath: string): Promise<string | undefined> {
  // Without a server-side checksum a same-size file could differ: send it again to be sure.
  if (!canHash(client.features)) return undefined;
  const existing = await client.stat(remotePath);
  if (existing?.type !== "file" || existing.size !== size) return undefined;
  const remote = await client.hash(remotePath);
  if (!remote) return undefined;
  return sameDigest(await hashLocalFile(localPath, remote.algorithm), remote.value) ? remote.algorithm : undefined;
}

/** A failed verification: a file still changing waits; wrong bytes discard the partial and fail the attempt. */
async function verifyFailed(client: SyncClient, err: VerifyError, path: string, size: number, remotePath: string, cfg: UploadJob): Promise<TransferOutcome> {
  const now = await stat(path).catch(() => undefined);
  await client.remove(remotePartPath(remotePath)).catch(() => undefined);
  if (!now || now.size !== size) throw new RetryLaterError(`${path} changed while it was sent: ${err.message}`, { delayMs: cfg.stableMs });
  throw err;
}

/**
 * The file is gone from the outbox. If the server holds a file of its size under the final
 * name, an earlier run uploaded it and applied the after-action before it could record the
 * job done (a crash): the job is done. Otherwise someone removed it before it could be sent.
 */
async function finishVanished(cfg: UploadJob, { path, size }: { path: string; size: number }, remotePath: string, deps: UploadRunnerDeps, log: Logger, signal: AbortSignal): Promise<HandlerResult> {
  const existing = await deps.remotes.use(cfg.remote, (c) => c.stat(remotePath), signal);
  if (existing?.type === "file" && existing.size === size && cfg.after.kind !== "keep") {
    log.info({ remotePath }, "already uploaded and cleared from the outbox by an earlier run");
    // That run never recorded its transfer: record it now, so the history holds each file once.
    await deps.onTransferred?.(cfg.name, [{ path: remotePath, source: path, bytes: size, verified: "size" }]);
    return { transfers: [{ path: remotePath, bytes: size, durationMs: 0, verified: "size" }] };
  }
  throw new PermanentJobError(`${remotePath}: the file left the outbox before it was uploaded (deleted or moved by someone else)`);
}

/** Keep, delete or move the local file after its verified upload. */
async function applyAfter(after: AfterAction, cfg: UploadJob, path: string, log: Logger): Promise<void> {
  switch (after.kind) {
    case "keep":
      return;
    case "delete":
      await unlink(path).catch((err: NodeJS.ErrnoException) => { if (err.code !== "ENOENT") throw err; });
      return;
    case "move": {
      const dest = await freeName(join(after.dir, relative(cfg.watch, path)));
      await mkdir(dirname(dest), { recursive: true });
      await moveFile(path, dest, log);
      log.debug({ movedTo: dest }, "moved after upload");
      return;
    }
    default: {
      const never: never = after;
      throw new Error(`unknown after-action ${JSON.stringify(never)}`);
    }
  }
}

/**
 * rename, or across filesystems (EXDEV: the `after.move` folder is on another mount) a copy to
 * a hidden temporary name beside the target (exclusive), fsync, rename into place, fsync the
 * folder, and only then unlink the original: a crash leaves the file in the outbox (sent
 * again, harmless) or both copies, never none.
 */
export async function moveFile(from: string, to: string, log?: Logger): Promise<void> {
  try {
    await rename(from, to);
    return;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EXDEV") throw err;
  }
  log?.debug({ from, to }, "after.move folder is on another filesystem: copying");
  const tmp = join(dirname(to), `.${basename(to)}.ferry-move-${process.pid}`);
  try {
    await copyFile(from, tmp, fsConstants.COPYFILE_EXCL);
    const fh = await open(tmp, "r+");
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    const st = await stat(from);
    await utimes(tmp, st.atime, st.mtime);
    await rename(tmp, to);
    await syncDir(dirname(to));
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await unlink(from);
}

/** fsync a folder so a rename in it survives a power loss (best effort: not every filesystem allows it). */
async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, "r").catch(() => undefined);
  if (!fh) return;
  try {
    await fh.sync().catch(() => undefined);
  } finally {
    await fh.close();
  }
}

/** `path`, or "name.1.ext", "name.2.ext"… when it exists: moving never overwrites an earlier file. */
async function freeName(path: string): Promise<string> {
  const ext = extname(path);
  const stem = path.slice(0, path.length - ext.length);
  for (let n = 0; n < 10_000; n++) {
    const candidate = n === 0 ? path : `${stem}.${n}${ext}`;
    const taken = await stat(candidate).then(() => true, () => false);
    if (!taken) return candidate;
  }
  throw new Error(`no free name for ${basename(path)} in ${dirname(path)}`);
}

/** Remove the file's marker (NAME.done): it meant "ready to send", and the file is sent. */
async function removeMarker(cfg: UploadJob, path: string): Promise<void> {
  if (!cfg.marker) return;
  await unlink(path + cfg.marker).catch((err: NodeJS.ErrnoException) => { if (err.code !== "ENOENT") throw err; });
}
