import {
  formatHashFeature, HASH_ALGORITHMS, LEGACY_HASH_COMMANDS, parseHashAlgorithm, type HashAlgorithm,
} from "../../protocol/index.js";
import { fileState, runningDigest } from "../digestCache.js";
import { STREAM_CHUNK_BYTES } from "../limits.js";
import type { Session } from "../Session.js";
import { command, type CommandSpec } from "./types.js";

/** A small file is read in one call (and a growing one in several). */
const READ_MIN_BYTES = 64 * 1024;

/**
 * Hex digest of the file `arg` with `algorithm`, and the bytes it covers. Answered from the
 * server's DigestCache when the file is in the very state (fileState) in which the server
 * wrote or read it; otherwise read in chunks (constant memory) and, when the file did not
 * change while it was read, remembered.
 */
async function digestFile(s: Session, arg: string, algorithm: HashAlgorithm): Promise<{ hex: string; size: number; path: string }> {
  s.usesHash = true;
  const path = s.resolve(arg);
  const { handle, size, stats, statAt } = await s.fs.openFile(path);
  try {
    const before = fileState(stats);
    const known = s.options.digests.lookup(before, algorithm);
    if (known !== undefined) return { hex: known, size, path };
    const digest = runningDigest(algorithm);
    const buffer = Buffer.allocUnsafe(Math.max(READ_MIN_BYTES, Math.min(STREAM_CHUNK_BYTES, size + 1)));
    let read = 0;
    for (let n; (n = (await handle.read(buffer, 0, buffer.length, read)).bytesRead) > 0; read += n) digest.update(buffer.subarray(0, n));
    const hex = digest.hex();
    const after = await handle.stat({ bigint: true });
    if (fileState(after) === before && s.options.digests.canKeep(after, statAt)) s.options.digests.remember(before, algorithm, hex);
    return { hex, size: read, path };
  } finally {
    await handle.close();
  }
}

/** OPTS HASH [algorithm]: show or select the HASH algorithm (draft-bryan-ftp-hash section 4). */
export function optsHash(s: Session, arg: string): void {
  if (arg.trim() === "") return s.reply(200, s.hashAlgorithm);
  const alg = parseHashAlgorithm(arg);
  if (!alg) return s.reply(504, `Unknown hash algorithm ${JSON.stringify(arg.trim().slice(0, 20))}: one of ${HASH_ALGORITHMS.join(", ")}`);
  s.hashAlgorithm = alg;
  s.reply(200, alg);
}

function legacy(algorithm: HashAlgorithm): CommandSpec {
  // XSHA256/XSHA1/XMD5/XCRC reply 250 and the bare hex digest, as proftpd's mod_digest does.
  return command(LEGACY_HASH_COMMANDS[algorithm], `${LEGACY_HASH_COMMANDS[algorithm]} <path>`, async (s, arg) => {
    const { hex } = await digestFile(s, arg, algorithm);
    s.reply(250, hex);
  }, { arg: "required", perm: "read", feat: LEGACY_HASH_COMMANDS[algorithm] });
}

/** Checksums: HASH (with OPTS HASH) and the legacy X-commands. */
export const HASH_COMMANDS: readonly CommandSpec[] = [
  command("HASH", "HASH <path>", async (s, arg) => {
    // A folder or a device is refused by openFile (550, not a plain file).
    const { hex, size, path } = await digestFile(s, arg, s.hashAlgorithm);
    // "213 <algorithm> <start>-<end> <hash> <name>" (draft-bryan-ftp-hash section 3.3).
    s.reply(213, `${s.hashAlgorithm} 0-${size} ${hex} ${path.slice(path.lastIndexOf("/") + 1)}`);
  }, { arg: "required", perm: "read" }),
  ...HASH_ALGORITHMS.map(legacy),
];

/** The FEAT line of HASH with the session's current algorithm starred. */
export function hashFeature(s: Session): string {
  return `HASH ${formatHashFeature(s.hashAlgorithm)}`;
}
