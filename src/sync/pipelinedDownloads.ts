import { rename } from "node:fs/promises";
import { dirname } from "node:path";
import { HASH_ALGORITHMS, type HashAlgorithm } from "../protocol/index.js";
import { toLocalFileError } from "./localErrors.js";
import { assertOwnPart } from "./localWrite.js";
import type { TransferOp } from "./plan.js";
import { remotePathOf, type SyncClient, type SyncPipeline, type SyncPipelinedData } from "./remote.js";
import { Collector, localPartPath, localPathOf, SMALL_FILE_BYTES, writeSmallFile, type TransferOutcome } from "./transfer.js";
import { canHash, hashBuffer, sameDigest, VerifyError } from "./verify.js";

// Small downloads over a pipelined connection (issue 13). Lockstep, a file costs EPSV, RETR →
// 150/226 and HASH: three or four round trips. Here a file's RETR and HASH leave with the
// next file's EPSV, once this file's passive reply is in; the server answers in order, so the
// next passive reply follows this file's 226 and checksum: about one round trip per file.
// Each file is received into memory (never past its announced size), checked (size, and the
// checksum where the server has one), and only then written to its temporary name and renamed
// into place, as downloadSmall does: the final name never holds unverified bytes.

/** Fewest and most files per batch of small downloads. */
const MIN_BATCH = 4;
const MAX_BATCH = 64;

/** The server is driven in lockstep: the batch's files go through the plain path, as new. */
export class NotPipelinedError extends Error {
  override readonly name = "NotPipelinedError";
}

/** Small downloads split into batches (spread over the connections) and the rest, in plan order. */
export function batchDownloads(ops: readonly TransferOp[], parallel: number): { batches: TransferOp[][]; singles: TransferOp[] } {
  const small: TransferOp[] = [];
  const singles: TransferOp[] = [];
  for (const op of ops) (op.kind === "download" && op.size <= SMALL_FILE_BYTES && !op.resumeFrom ? small : singles).push(op);
  if (small.length < 2) return { batches: [], singles: [...ops] };
  const size = Math.min(MAX_BATCH, Math.max(MIN_BATCH, Math.ceil(small.length / Math.max(1, parallel))));
  const batches: TransferOp[][] = [];
  for (let i = 0; i < small.length; i += size) batches.push(small.slice(i, i + size));
  return { batches, singles };
}

/** Options of downloadSmallBatch. */
export interface DownloadBatchOptions {
  localRoot: string;
  remoteRoot: string;
  /** Makes (once) and checks a local folder before anything is written into it. */
  checkLocalDir: (dir: string) => Promise<void>;
  onBytes?: (n: number) => void;
  signal?: AbortSignal;
}

/**
 * Download a batch of small files on `client`, pipelined. Returns, per file, the outcome or
 * the error that stopped it; every file fails with NotPipelinedError when the server is
 * driven in lockstep (the plain path takes them). Nothing unverified is published.
 */
export async function downloadSmallBatch(client: SyncClient, ops: readonly TransferOp[], o: DownloadBatchOptions): Promise<(TransferOutcome | Error)[]> {
  const p = await client.pipeline?.("a batch of small downloads");
  if (!p) return ops.map(() => new NotPipelinedError("the server is driven one command at a time"));
  return downloadPipelined(client, p, ops, o);
}

async function downloadPipelined(client: SyncClient, p: SyncPipeline, ops: readonly TransferOp[], o: DownloadBatchOptions): Promise<(TransferOutcome | Error)[]> {
  const results: (TransferOutcome | Error)[] = [];
  const checks: Promise<void>[] = [];
  const hashing = canHash(client.features);
  let data: SyncPipelinedData | undefined;
  try {
    // A folder that cannot be made or is not safe fails its own files only.
    const dirError = new Map<string, Error | undefined>();
    for (const op of ops) {
      const dir = dirname(localPathOf(o.localRoot, op.path));
      if (!dirError.has(dir)) dirError.set(dir, await o.checkLocalDir(dir).then(() => undefined, asError));
    }
    data = ops.length > 0 ? p.passive(true) : undefined;
    for (const [i, op] of ops.entries()) {
      const bad = dirError.get(dirname(localPathOf(o.localRoot, op.path)));
      if (bad) {
        results[i] = bad; // the passive reply waits for the next file
        continue;
      }
      const conn = data!;
      try {
        o.signal?.throwIfAborted();
        await conn.ready;
      } catch (err) {
        results[i] = asError(err);
        void conn.close();
        data = i + 1 < ops.length ? p.passive(true) : undefined;
        continue;
      }
      const remotePath = remotePathOf(o.remoteRoot, op.path);
      const sink = new Collector(op.size, remotePath);
      // One write: this file's RETR and checksum, and the next file's passive request.
      const got = p.retrieve(remotePath, sink, conn, o.signal);
      const hash = hashing ? p.hash(remotePath, HASH_ALGORITHMS) : Promise.resolve(undefined);
      data = i + 1 < ops.length ? p.passive(true) : undefined;
      checks.push(verifyThenPublish(op, sink, got, hash, o).then(
        (out) => void (results[i] = out), (err: unknown) => void (results[i] = asError(err))));
      // The server runs one transfer at a time: the next RETR goes once this one has ended.
      await got.then(() => undefined, () => undefined);
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

/** Once the 226 and the checksum are in and right, write the temporary file and rename it into place. */
async function verifyThenPublish(op: TransferOp, sink: Collector, got: Promise<number>,
  hash: Promise<{ algorithm: HashAlgorithm; value: string } | undefined>, o: DownloadBatchOptions): Promise<TransferOutcome> {
  const [g, h] = await Promise.allSettled([got, hash]);
  if (sink.overrun) throw sink.overrun; // bytes past the announced size: nothing to keep
  if (g.status === "rejected") throw g.reason;
  const bytes = sink.bytes();
  o.onBytes?.(bytes.length);
  if (bytes.length !== op.size) throw new VerifyError(`size check failed: expected ${op.size} bytes, received ${bytes.length}`);
  if (h.status === "rejected") throw h.reason;
  let verified: TransferOutcome["verified"] = "size only";
  let digest: TransferOutcome["hash"];
  if (h.value) {
    const mine = hashBuffer(bytes, h.value.algorithm);
    if (!sameDigest(mine, h.value.value)) throw new VerifyError(`${h.value.algorithm} mismatch: received ${mine}, server has ${h.value.value}`);
    verified = h.value.algorithm;
    digest = { algorithm: h.value.algorithm, value: mine };
  }
  const localPath = localPathOf(o.localRoot, op.path);
  const part = localPartPath(localPath);
  const id = await writeSmallFile(part, bytes, op.mtime);
  try {
    assertOwnPart(part, id);
    await rename(part, localPath);
  } catch (err) {
    throw toLocalFileError(err, localPath);
  }
  return { bytes: bytes.length, offset: 0, verified, ...(digest ? { hash: digest } : {}), mtimeSet: op.mtime !== undefined };
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
