import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { crc32 } from "node:zlib";
import { NODE_HASH_NAMES, type HashAlgorithm } from "../protocol/index.js";

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
  override readonly name = "VerifyError";
}
