import {
  type Stats, closeSync, createReadStream, createWriteStream, fstatSync, ftruncate as ftruncateCallback, futimesSync, openSync, readSync, writeSync,
} from "node:fs";
import { rm, stat } from "node:fs/promises";
import { promisify } from "node:util";
import { PassThrough, Readable, Transform, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { throttle, type TokenBucket } from "./bwlimit.js";
import { confirmDownloaded, confirmUploaded } from "./confirm.js";
import { toLocalFileError } from "./localErrors.js";
import { createPartFd, openPartToResume, regularPartSize, SizeOverrunError, type PartIdentity } from "./localWrite.js";
import { localPartPath, remotePartPath } from "./paths.js";
import { publishLocal, publishRemote } from "./publish.js";
import { isNotFound, type SyncClient } from "./remote.js";
import { decideResume, dropRecord, partKey, recordDownloadSource, recordUploadSource, rememberUploadSource, type PartRecordOptions } from "./partIdentity.js";
import { hashBuffer, hashLocalFile, remoteSize, ShortTransferError, verifyServerHash, VerifyError, type Verification } from "./verify.js";

// One attempt at one file, each direction: send or receive into the temporary name, verify
// (verify.ts), publish (publish.ts). transferFile.ts runs the attempts; this module is its
// stage "move the bytes". The names batch.ts and older callers import from here stay
// importable from here.
export { assertInside, localPartPath, localPathOf, remotePartPath } from "./paths.js";
export { publishRemote } from "./publish.js";
export { remoteSize } from "./verify.js";

/**
 * Files up to this size move through memory in one piece: one synchronous read (upload) or
 * write (download) instead of a stream, a pipeline and a handful of thread-pool round trips
 * per file. Per-file overhead, not bytes, is what bounds a mirror of many small files
 * (profiled: streams and thread-pool dispatch were about half of the CPU per 4 KiB file).
 * Larger files, resumed transfers and throttled ones keep the streaming path.
 */
export const SMALL_FILE_BYTES = 1024 * 1024;

/** One file to move, with what is known about it beforehand. */
export interface FileTransfer {
  /** Local file (source of an upload, final destination of a download). */
  localPath: string;
  /** Remote file (final destination of an upload, source of a download). */
  remotePath: string;
  /** Expected size in bytes (the source's, from the scan). */
  size: number;
  /** The source's mtime, set on the published file. */
  mtime?: Date;
  /** Bytes of a partial file to resume from (attempt 1); later attempts ask the partial itself. */
  resumeFrom?: number;
  /** The remote source's MLST `unique` fact, when the caller has it (recorded with a download's partial). */
  unique?: string;
  /** Where the identity of a partial's source is recorded (partIdentity.ts); default the state folder. */
  records?: PartRecordOptions;
}

/** Per-attempt context: where the attempt starts, throttling, progress. */
export interface AttemptOptions {
  /**
   * A partial from an earlier attempt (or an earlier run) may be there: measure it and resume
   * from its real size, and publish it without resending when it already holds every byte.
   * Default false: start from `resumeFrom` (or 0) as the caller says.
   */
  resumePartial?: boolean;
  /** Start over from byte 0 (after a failed verification). */
  restart?: boolean;
  bucket?: TokenBucket;
  /** Bytes moved, as they pass (deltas). */
  onBytes?: (n: number) => void;
  signal?: AbortSignal;
}

/** What a finished transfer did. */
export interface TransferOutcome extends Verification {
  /** Bytes sent over the wire in the successful attempt. */
  bytes: number;
  /** Where the attempt started (0 unless resumed). */
  offset: number;
  /** False when the destination's mtime could not be set (the server lacks MFMT). */
  mtimeSet: boolean;
  /**
   * Where the server's size of the uploaded file came from when not from SIZE: "listing" for a
   * batched upload, checked against one listing of its folder (the same fact, one command
   * for many files). Absent for SIZE and for downloads (bytes counted locally).
   */
  sizeFrom?: "listing";
  /** Why a partial was there but the transfer started from byte 0 (its source changed: B11). */
  restarted?: string;
}

function counting(onBytes?: (n: number) => void): Transform {
  return new Transform({ transform(chunk: Buffer, _e, done) { onBytes?.(chunk.length); done(null, chunk); } });
}

/**
 * One attempt at an upload: send (or resume) into `.NAME.ferry-part` beside the target,
 * verify size and, when the server can hash, the checksum; then rename into place and set
 * the mtime. The target name never holds a partial file.
 */
export async function uploadAttempt(client: SyncClient, t: FileTransfer, o: AttemptOptions): Promise<TransferOutcome> {
  const part = remotePartPath(t.remotePath);
  let offset = 0;
  let restarted: string | undefined;
  if (!o.restart && client.features.rest) {
    if (!o.resumePartial) offset = t.resumeFrom ?? 0;
    else offset = await remoteSize(client, part).catch((err: unknown) => { if (isNotFound(err)) return 0; throw err; });
    // Every byte went but the 226 did not come back (C3): confirm and publish, do not resend,
    // once the local file is known to be the one those bytes came from (B11).
    if (o.resumePartial && offset === t.size && t.size > 0) {
      const same = await decideResume(client, partKey("upload", t), offset, t.size);
      if (same.offset === t.size) return confirmUploaded(client, t, part);
      restarted = same.restarted;
    }
    if (offset >= t.size || offset < 0) offset = 0;
    // B11: resume only onto bytes of this very file, else start over (overwriting the partial).
    if (offset > 0) ({ offset, restarted } = await decideResume(client, partKey("upload", t), offset, t.size));
    // Bytes of another version are known to be there: remove them before a new record is
    // written, so a crash before STOR truncates them cannot leave the record vouching for them.
    if (restarted) await client.remove(part).catch(() => undefined);
  }
  const whole = offset === 0 && !o.bucket && t.size <= SMALL_FILE_BYTES ? readSmallFile(t.localPath, t.size, (st) => rememberUploadSource(t, st)) : undefined;
  if (!whole && offset === 0) await recordUploadSource(t); // a small file is sent whole again instead
  let sent = 0;
  if (whole) {
    await sendBuffer(client, whole, part, o);
    sent = whole.length;
    o.onBytes?.(sent);
  } else {
    sent = await sendStream(client, t.localPath, part, offset, o);
  }
  const got = await remoteSize(client, part);
  if (got < t.size && !whole) throw new ShortTransferError(`size check failed: sent ${t.size} bytes, server has ${got} (ended early; the next attempt resumes)`);
  if (got !== t.size) throw new VerifyError(`size check failed: sent ${t.size} bytes, server has ${got}`);
  if (!whole) {
    // A streamed file may have grown or shrunk while it was read; a small one was read whole
    // and its length checked against the scan before anything was sent.
    const local = await stat(t.localPath);
    if (local.size !== t.size) throw new VerifyError(`the local file changed size while sending (${t.size} → ${local.size})`);
  }
  const { verified, hash } = await verifyServerHash(client, part, (a) => (whole ? hashBuffer(whole, a) : hashLocalFile(t.localPath, a)), "local");
  const mtimeSet = await publishRemote(client, part, t.remotePath, t.mtime);
  if (!whole || o.resumePartial || t.resumeFrom) await dropRecord(partKey("upload", t));
  return { bytes: sent, offset, verified, ...(hash ? { hash } : {}), mtimeSet, ...(restarted ? { restarted } : {}) };
}

/**
 * Read a small local file in one go. The scan's size must still hold: a file that changed
 * since is reported (as a failed verification, so the attempt starts over) before any byte
 * is sent, instead of after.
 */
export function readSmallFile(path: string, size: number, onStats?: (st: Stats) => void): Buffer {
  const fd = openSync(path, "r");
  try {
    const st = fstatSync(fd);
    onStats?.(st); // what the bytes about to be read belong to (partIdentity)
    const now = st.size;
    if (now !== size) throw new VerifyError(`the local file changed size since the scan (${size} → ${now})`);
    const data = Buffer.allocUnsafe(size);
    let got = 0;
    while (got < size) {
      const n = readSync(fd, data, got, size - got, got);
      if (n === 0) break;
      got += n;
    }
    if (got !== size) throw new VerifyError(`the local file shrank while reading (${size} → ${got})`);
    return data;
  } finally {
    closeSync(fd);
  }
}

/** Upload a buffer to `part` (STOR). */
export async function sendBuffer(client: SyncClient, data: Buffer, part: string, o: { signal?: AbortSignal }): Promise<void> {
  const opts = o.signal ? { signal: o.signal } : {};
  if (client.uploadBuffer) {
    await client.uploadBuffer(data, part, opts);
    return;
  }
  await client.upload(Readable.from(data.length > 0 ? [data] : [], { objectMode: false }), part, opts);
}

/** Stream a local file from `offset` to `part` (REST+STOR when resuming), throttled when asked. */
async function sendStream(client: SyncClient, localPath: string, part: string, offset: number, o: AttemptOptions): Promise<number> {
  const source: Readable = createReadStream(localPath, { start: offset });
  let sent = 0;
  const metered = counting((n) => { sent += n; o.onBytes?.(n); });
  (o.bucket ? source.pipe(throttle(o.bucket)) : source).pipe(metered);
  source.on("error", (err) => metered.destroy(err));
  try {
    await client.upload(metered, part, { ...(offset > 0 ? { offset } : {}), ...(o.signal ? { signal: o.signal } : {}) });
  } finally {
    source.destroy(); // a cut transfer leaves the file open otherwise
  }
  return sent;
}

/**
 * One attempt at a download (into an existing folder): receive (or resume) into a local `.NAME.ferry-part`, verify size
 * and, when the server can hash, the checksum; then rename into place and set the mtime.
 * The temporary file is created exclusively and never through a link (localWrite.ts), and
 * only that very file is renamed into place. A local write failure (disk full, read-only,
 * no permission) aborts the data connection at once and rejects with a LocalFileError; a
 * server sending more than `t.size` bytes is cut off there (SizeOverrunError).
 */
export async function downloadAttempt(client: SyncClient, t: FileTransfer, o: AttemptOptions): Promise<TransferOutcome> {
  const part = localPartPath(t.localPath); // the caller has made (and checked) the folder
  let offset = 0;
  let restarted: string | undefined;
  if (!o.restart && client.features.rest && (o.resumePartial || (t.resumeFrom ?? 0) > 0)) {
    const have = await regularPartSize(part);
    offset = o.resumePartial ? have : Math.min(have, t.resumeFrom ?? 0);
    // Every byte came but the 226 did not (C3): confirm with SIZE (and HASH) and publish, do not
    // fetch again, once the remote file is known to be the one the partial was cut from (B11).
    if (o.resumePartial && offset === t.size && t.size > 0) {
      const same = await decideResume(client, partKey("download", t), offset, t.size);
      if (same.offset === t.size) {
        const whole = await openPartToResume(part);
        if (whole) closeSync(whole.fd);
        if (whole && whole.size === t.size) {
          const done = await confirmDownloaded(client, t, part, () => publishLocal(part, whole.id, t.localPath, t.mtime));
          await dropRecord(partKey("download", t));
          return done;
        }
      }
      restarted = same.restarted;
    }
    if (offset >= t.size) offset = 0;
    // B11: before REST n, re-check the remote file against what the partial was cut from.
    if (offset > 0) ({ offset, restarted } = await decideResume(client, partKey("download", t), offset, t.size));
  }
  let file: { fd: number; id: PartIdentity } | undefined;
  if (offset > 0) {
    // Resume only a regular file reached without a link; anything else starts over.
    const resumed = await openPartToResume(part);
    if (resumed && resumed.size >= offset) {
      try {
        await ftruncate(resumed.fd, offset);
      } catch (err) {
        closeSync(resumed.fd);
        throw toLocalFileError(err, part);
      }
      file = resumed;
    } else {
      if (resumed) closeSync(resumed.fd);
      offset = 0;
    }
  }
  if (offset === 0 && !o.bucket && t.size <= SMALL_FILE_BYTES) {
    const small = await downloadSmall(client, t, part, o);
    if (o.resumePartial || t.resumeFrom) await dropRecord(partKey("download", t));
    return { ...small, ...(restarted ? { restarted } : {}) };
  }
  if (offset === 0) {
    // The old partial goes before the new record is written: a crash between the two must not
    // leave old bytes that the new record vouches for. (Anything but a file or link in the
    // way is left for createPartFd to refuse with a clear message.)
    await rm(part, { force: true }).catch(() => undefined);
    await recordDownloadSource(client, t);
  }
  file ??= await createPartFd(part);
  const head = new PassThrough();
  let received = 0;
  const expected = t.size;
  // Counts what passes and stops at the announced size: a server sending more never gets its
  // extra bytes written (or the disk filled).
  const count = new Transform({
    transform(chunk: Buffer, _e, done) {
      if (offset + received + chunk.length > expected) return done(new SizeOverrunError(expected, t.remotePath));
      received += chunk.length;
      o.onBytes?.(chunk.length);
      done(null, chunk);
    },
  });
  const sink = createWriteStream(part, { fd: file.fd, ...(offset > 0 ? { start: offset } : {}) });
  // The write pipeline runs while the download does, so its failure is handled at once (never
  // left as an unhandled rejection) and stops the transfer: no reading a 1 GiB file into a
  // full disk. `stop` carries the reason to the data connection.
  const stop = new AbortController();
  const onOuterAbort = (): void => stop.abort(o.signal?.reason);
  if (o.signal?.aborted) onOuterAbort();
  else o.signal?.addEventListener("abort", onOuterAbort, { once: true });
  let writeError: Error | undefined;
  const written = (o.bucket ? pipeline(head, throttle(o.bucket), count, sink) : pipeline(head, count, sink)).catch((err: unknown) => {
    const local = err instanceof SizeOverrunError ? err : toLocalFileError(err, part);
    writeError ??= local instanceof Error ? local : new Error(String(local));
    stop.abort(writeError);
  });
  let failure: unknown;
  try {
    await client.download(t.remotePath, head, { ...(offset > 0 ? { offset } : {}), signal: stop.signal });
  } catch (err) {
    failure = err;
  } finally {
    o.signal?.removeEventListener("abort", onOuterAbort);
  }
  if (!head.destroyed) head.end(); // flush what arrived, so the next attempt resumes after it
  await written;
  if (writeError !== undefined) failure = writeError; // the cause, whatever the transfer reported
  if (failure !== undefined) {
    // Nothing arrived: leave no empty partial behind (a non-empty one is kept to resume). A
    // local write failure or an overrun leaves nothing: the disk gets its room back, and
    // bytes past the announced size are no base to resume on.
    if (writeError !== undefined || (received === 0 && offset === 0)) await rm(part, { force: true }).catch(() => undefined);
    throw failure;
  }
  // The pipeline has flushed every counted byte after the `offset` kept: no stat needed.
  const size = offset + received;
  if (size < t.size) throw new ShortTransferError(`size check failed: expected ${t.size} bytes, received ${size} (ended early; the next attempt resumes)`);
  if (size !== t.size) throw new VerifyError(`size check failed: expected ${t.size} bytes, received ${size}`);
  const { verified, hash } = await verifyServerHash(client, t.remotePath, (a) => hashLocalFile(part, a), "received");
  await publishLocal(part, file.id, t.localPath, t.mtime);
  await dropRecord(partKey("download", t));
  return { bytes: received, offset, verified, ...(hash ? { hash } : {}), mtimeSet: t.mtime !== undefined, ...(restarted ? { restarted } : {}) };
}

/** Collects a download in memory: cheaper than a file stream for a small file. Refuses bytes past `limit`. */
export class Collector extends Writable {
  readonly chunks: Buffer[] = [];
  length = 0;
  /** Set once the server sent more than `limit`. */
  overrun: SizeOverrunError | undefined;
  constructor(readonly limit: number, readonly path: string) {
    super();
  }
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    if (this.length + chunk.length > this.limit) {
      // The announced size bounds the memory: an endless sender is cut off here (the error
      // aborts the transfer and closes its data connection).
      this.overrun ??= new SizeOverrunError(this.limit, this.path);
      done(this.overrun);
      return;
    }
    this.chunks.push(chunk);
    this.length += chunk.length;
    done();
  }
  /** Everything received, in one buffer. */
  bytes(): Buffer {
    return this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.length);
  }
}

/**
 * A small file's download: received into memory (never more than its announced size),
 * verified there (size, checksum), then written to the temporary file in one synchronous
 * write and renamed into place. The final name never holds a partial file, as with the
 * streaming path. When the attempt fails, what arrived is written to the temporary file, so
 * the next attempt resumes after it.
 */
async function downloadSmall(client: SyncClient, t: FileTransfer, part: string, o: AttemptOptions): Promise<TransferOutcome> {
  const sink = new Collector(t.size, t.remotePath);
  try {
    await client.download(t.remotePath, sink, o.signal ? { signal: o.signal } : {});
  } catch (err) {
    if (sink.overrun) throw sink.overrun; // bytes past the announced size: nothing to keep
    if (sink.length > 0) {
      o.onBytes?.(sink.length);
      // Kept to resume after; a disk that refuses it only costs the resume, and the
      // transfer's own error is the one to report. The old partial goes first, as in
      // downloadAttempt: no old bytes under the new record.
      await rm(part, { force: true }).catch(() => undefined);
      try {
        await recordDownloadSource(client, t); // what the partial is cut from, before it exists
        await writeSmallFile(part, sink.bytes());
      } catch {
        await rm(part, { force: true }).catch(() => undefined);
      }
    }
    throw err;
  }
  if (sink.overrun) throw sink.overrun;
  const data = sink.bytes();
  o.onBytes?.(data.length);
  if (data.length !== t.size) throw new VerifyError(`size check failed: expected ${t.size} bytes, received ${data.length}`);
  const { verified, hash } = await verifyServerHash(client, t.remotePath, (a) => hashBuffer(data, a), "received");
  const id = await writeSmallFile(part, data, t.mtime);
  await publishLocal(part, id, t.localPath); // the time went on with the bytes
  return { bytes: data.length, offset: 0, verified, ...(hash ? { hash } : {}), mtimeSet: t.mtime !== undefined };
}

const ftruncate = promisify(ftruncateCallback);

/**
 * Write a small file (and its mtime) in one go. Creating the file, which may wait for the
 * disk's journal, and the rename stay asynchronous so parallel transfers go on meanwhile;
 * the write, the time stamp and the close of a few KiB are synchronous: they only touch the
 * page cache, and each asynchronous call would cost a thread-pool round trip (measured on
 * 5,000 files of 4 KiB: 0.7 s this way, 1.1-3.2 s all synchronous, 1.2-2.4 s all
 * asynchronous). No fsync, as before: a crash may lose the newest files, never publish a
 * partial one. The file is created exclusively, never through a link (createPartFd); a
 * failed write removes it and rejects with a LocalFileError. Resolves with its identity.
 */
export async function writeSmallFile(path: string, data: Buffer, mtime?: Date): Promise<PartIdentity> {
  const { fd, id } = await createPartFd(path);
  try {
    try {
      for (let done = 0; done < data.length;) done += writeSync(fd, data, done, data.length - done);
      if (mtime) futimesSync(fd, mtime, mtime);
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    await rm(path, { force: true }).catch(() => undefined);
    throw toLocalFileError(err, path);
  }
  return id;
}
