import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { crc32 } from "node:zlib";
import { isNotUnderstood } from "../client/index.js";
import { FtpReplyError, NODE_HASH_NAMES, type HashAlgorithm } from "../protocol/index.js";
import type { SyncClient } from "./remote.js";

// The verification stage of a transfer: the size the other side holds, then the server's
// checksum when it has one, compared with ours. A failure is a VerifyError, and nothing that
// failed is published (publish.ts runs only after these resolve).

/** The hash of a local file in one of the FTP HASH algorithms, lowercase hex. */
export async function hashLocalFile(path: string, algorithm: HashAlgorithm): Promise<string> {
  if (algorithm === "CRC32") {
    let crc = 0;
    for await (const chunk of createReadStream(path)) crc = crc32(chunk as Buffer, crc);
    return crc.toString(16).padStart(8, "0");
  }
  const h = createHash(NODE_HASH_NAMES[algorithm]);
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest("hex");
}

/** The hash of bytes in memory, as hashLocalFile would give for a file holding them. */
export function hashBuffer(data: Buffer, algorithm: HashAlgorithm): string {
  if (algorithm === "CRC32") return crc32(data).toString(16).padStart(8, "0");
  return createHash(NODE_HASH_NAMES[algorithm]).update(data).digest("hex");
}

/** Whether the server can hash files at all (FEAT HASH or an X-command). */
export function canHash(features: { hash: readonly HashAlgorithm[]; legacyHash: readonly HashAlgorithm[] }): boolean {
  return features.hash.length > 0 || features.legacyHash.length > 0;
}

/** Same digest, ignoring case and a CRC32's leading zeros. */
export function sameDigest(a: string, b: string): boolean {
  const norm = (s: string) => s.trim().toLowerCase().replace(/^0+(?=.)/, "");
  return norm(a) === norm(b);
}

/** A verification that failed: the published name would hold wrong bytes, so start over. */
export class VerifyError extends Error {
  override readonly name: string = "VerifyError";
}

/**
 * The transfer ended early although both sides called it done (a connection cut with an
 * orderly close, e.g. by a proxy or NAT): the bytes there are a prefix of the file, so the next
 * attempt resumes after them (after checking the source is unchanged) instead of starting over.
 */
export class ShortTransferError extends VerifyError {
  override readonly name: string = "ShortTransferError";
}

/** How a transfer was verified: the checksum algorithm, or "size only" when the server offers none. */
export interface Verification {
  /** "SHA-256", "MD5", … or "size only" when the server offers no checksum. */
  verified: HashAlgorithm | "size only";
  /** The verified checksum, when there was one. */
  hash?: { algorithm: HashAlgorithm; value: string };
}

/**
 * The one server-hash check: when the server can hash, ask it for `remotePath`'s checksum and
 * compare it with ours (`mine(algorithm)`: of the bytes sent, or of the bytes received); a
 * difference is a VerifyError. `ours` words the message: "local" (the bytes were ours to
 * begin with) or "received" (they came from the server).
 */
export async function verifyServerHash(
  client: Pick<SyncClient, "features" | "hash">, remotePath: string,
  mine: (algorithm: HashAlgorithm) => string | Promise<string>, ours: "local" | "received",
): Promise<Verification> {
  if (!canHash(client.features)) return { verified: "size only" };
  const remote = await client.hash(remotePath);
  if (!remote) return { verified: "size only" };
  const digest = await mine(remote.algorithm);
  if (!sameDigest(digest, remote.value)) {
    throw new VerifyError(ours === "local"
      ? `${remote.algorithm} mismatch: local ${digest}, server ${remote.value}`
      : `${remote.algorithm} mismatch: received ${digest}, server has ${remote.value}`);
  }
  return { verified: remote.algorithm, hash: { algorithm: remote.algorithm, value: digest } };
}

/** A remote file's size: SIZE, or the listing's size on servers without SIZE (not understood: 500-504). */
export async function remoteSize(client: Pick<SyncClient, "size" | "stat">, path: string): Promise<number> {
  try {
    return await client.size(path);
  } catch (err) {
    if (!isNotUnderstood(err)) throw err;
    const st = await client.stat(path);
    if (st?.size === undefined) throw new FtpReplyError(550, `${path}: size unknown (no SIZE and not in the listing)`, "SIZE", { cause: err });
    return st.size;
  }
}
