import { FtpReplyError, HASH_ALGORITHMS } from "../protocol/index.js";
import { NotListedError, uploadBatch, type BatchOptions } from "./batch.js";
import type { TransferOp } from "./plan.js";
import { rememberUploadSource } from "./partIdentity.js";
import { remotePathOf, type SyncClient, type SyncPipeline, type SyncPipelinedData } from "./remote.js";
import { localPathOf, publishRemote, readSmallFile, remotePartPath, type FileTransfer, type TransferOutcome } from "./transfer.js";
import { canHash, hashBuffer, sameDigest, VerifyError } from "./verify.js";

// Small uploads over a pipelined connection (issue 13). Per file the lockstep path waits for
// EPSV, STOR's 150, its 226, SIZE (or a batch listing), HASH and the publish: five or six
// round trips. Here, once a file's passive reply is in, its STOR, SIZE, HASH and the next
// file's EPSV leave in one write; the server answers them in order, so the next passive reply
// follows this file's checks and the next STOR leaves with this file's publish commands
// (MFMT, RNFR, RNTO). About two round trips per file: STOR → 150, then data → 226 + checks.
//
// The safety contract is unchanged: a file goes to its temporary name, and its publish is
// sent only from the continuation that has the 226, the size and the checksum in hand and
// found them right. A broken connection (or a server that falls out of step) fails the files
// still in flight with a retriable error; the plain path redoes them, resuming or confirming
// what arrived, so a file is never published unverified, lost or sent twice under its name.

/** A verified file whose rename the server refused in the pipeline: published again in lockstep (publishRemote handles servers that will not rename over a file). */
export class PublishRefused {
  constructor(readonly part: string, readonly target: string, readonly mtime: Date | undefined, readonly outcome: TransferOutcome, readonly error: FtpReplyError) {}
}

/**
 * Upload a batch of small files on `client`: pipelined when the server takes it, else the
 * lockstep batch (batch.ts). Returns, per file, the outcome or the error that stopped it, as
 * uploadBatch does; nothing unverified is published.
 */
export async function uploadSmallBatch(client: SyncClient, ops: readonly TransferOp[], o: BatchOptions): Promise<(TransferOutcome | Error)[]> {
  // The pipelined lane verifies by SIZE: a server without it would get every file sent twice.
  const pipeline = client.features.size === false ? undefined : await client.pipeline?.("a batch of small uploads");
  if (!pipeline) return uploadBatch(client, ops, o);
  const located = ops.map((op) => ({ op, localPath: () => localPathOf(o.localRoot, op.path), target: remotePathOf(o.remoteRoot, op.path) }));
  return publishRefused(client, await uploadPipelined(client, pipeline, located, o));
}

/**
 * One small file (held in memory) over a pipelined connection: the first attempt of
 * transferFile's upload (put, the daemon's outbox). Its passive request, then STOR with its
 * data, SIZE and HASH in one write, then the publish: about three round trips where the
 * lockstep path takes six. Undefined when the server is driven in lockstep (the caller takes
 * the plain path); an error as uploadSmallBatch gives it (NotListedError: no SIZE here).
 */
export async function uploadOnePipelined(client: SyncClient, t: FileTransfer, o: { onBytes?: (n: number) => void; signal?: AbortSignal }):
  Promise<TransferOutcome | Error | undefined> {
  const pipeline = client.features.size === false ? undefined : await client.pipeline?.("a small upload");
  if (!pipeline) return undefined;
  const op: TransferOp = { kind: "upload", path: t.remotePath, size: t.size, reason: "new", ...(t.mtime ? { mtime: t.mtime } : {}) };
  const [result] = await publishRefused(client, await uploadPipelined(client, pipeline, [{ op, localPath: () => t.localPath, target: t.remotePath }], o));
  return result;
}

/** Verified files whose rename was refused: publish them the lockstep way (remove-then-rename servers). */
function publishRefused(client: SyncClient, results: (TransferOutcome | Error | PublishRefused)[]): Promise<(TransferOutcome | Error)[]> {
  return Promise.all(results.map(async (r) => {
    if (!(r instanceof PublishRefused)) return r;
    try {
      return { ...r.outcome, mtimeSet: await publishRemote(client, r.part, r.target, r.mtime) };
    } catch (err) {
      return asError(err);
    }
  }));
}

/** A file of a pipelined run: its plan entry, where its bytes are read (checked for safety when asked) and where it goes. */
interface Located {
  op: TransferOp;
  localPath: () => string;
  target: string;
}

async function uploadPipelined(client: SyncClient, p: SyncPipeline, files: readonly Located[], o: { onBytes?: (n: number) => void; signal?: AbortSignal }):
  Promise<(TransferOutcome | Error | PublishRefused)[]> {
  const ops = files.map((f) => f.op);
  const results: (TransferOutcome | Error | PublishRefused)[] = [];
  const checks: Promise<void>[] = [];
  const hashing = canHash(client.features);
  let data: SyncPipelinedData | undefined = ops.length > 0 ? p.passive() : undefined;
  try {
    for (const [i, { op, target, localPath: locate }] of files.entries()) {
      const part = remotePartPath(target);
      let bytes: Buffer;
      try {
        o.signal?.throwIfAborted();
        const localPath = locate();
        bytes = readSmallFile(localPath, op.size, (st) => rememberUploadSource({ localPath, remotePath: target }, st));
      } catch (err) {
        results[i] = asError(err); // the passive reply waits for the next file
        continue;
      }
      const conn = data!;
      try {
        await conn.ready;
      } catch (err) {
        results[i] = asError(err);
        data = i + 1 < ops.length ? p.passive() : undefined;
        continue;
      }
      // One write: this file's STOR and checks, and the next file's passive request.
      const stored = p.store(part, bytes, conn, o.signal);
      const size = p.size(part);
      const hash = hashing ? p.hash(part, HASH_ALGORITHMS) : Promise.resolve(undefined);
      data = i + 1 < ops.length ? p.passive() : undefined;
      checks.push(verifyThenPublish(p, op, bytes, part, target, stored, size, hash, o).then(
        (out) => void (results[i] = out), (err: unknown) => void (results[i] = asError(err))));
      // The server runs one transfer at a time: the next STOR goes once this one has ended.
      await stored.then(() => undefined, () => undefined);
    }
  } catch (err) {
    for (const [i] of ops.entries()) results[i] ??= asError(err);
  } finally {
    await data?.close();
    await Promise.all(checks);
    p.release();
  }
  return results;
}

/** Once the 226, SIZE and HASH replies are in and right, send the publish commands (they leave with the next file's STOR). */
export async function verifyThenPublish(p: SyncPipeline, op: TransferOp, bytes: Buffer, part: string, target: string,
  stored: Promise<number>, size: Promise<number>, hash: Promise<{ algorithm: (typeof HASH_ALGORITHMS)[number]; value: string } | undefined>,
  o: { onBytes?: (n: number) => void }): Promise<TransferOutcome | PublishRefused> {
  const [st, sz, hs] = await Promise.allSettled([stored, size, hash]);
  if (st.status === "rejected") throw st.reason;
  o.onBytes?.(bytes.length);
  if (sz.status === "rejected") {
    // A server without SIZE: the plain path verifies another way (a listing).
    if (sz.reason instanceof FtpReplyError && [500, 501, 502, 504].includes(sz.reason.code)) {
      throw new NotListedError(`SIZE ${part} is not available: ${sz.reason.message}`, { cause: sz.reason });
    }
    throw sz.reason;
  }
  if (sz.value !== op.size) throw new VerifyError(`size check failed: sent ${op.size} bytes, server has ${sz.value}`);
  if (hs.status === "rejected") throw hs.reason;
  let verified: TransferOutcome["verified"] = "size only";
  let digest: TransferOutcome["hash"];
  if (hs.value) {
    const mine = hashBuffer(bytes, hs.value.algorithm);
    if (!sameDigest(mine, hs.value.value)) throw new VerifyError(`${hs.value.algorithm} mismatch: local ${mine}, server ${hs.value.value}`);
    verified = hs.value.algorithm;
    digest = { algorithm: hs.value.algorithm, value: mine };
  }
  const outcome: TransferOutcome = { bytes: bytes.length, offset: 0, verified, ...(digest ? { hash: digest } : {}), mtimeSet: false };
  try {
    return { ...outcome, mtimeSet: await p.renameWithTime(part, target, op.mtime) };
  } catch (err) {
    if (err instanceof FtpReplyError) return new PublishRefused(part, target, op.mtime, outcome, err);
    throw err;
  }
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
