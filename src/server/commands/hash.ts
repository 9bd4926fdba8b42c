import { createHash } from "node:crypto";
import {
  formatHashFeature, HASH_ALGORITHMS, LEGACY_HASH_COMMANDS, NODE_HASH_NAMES, parseHashAlgorithm, type HashAlgorithm,
} from "../../protocol/index.js";
import { crc32 } from "../crc32.js";
import { PathError } from "../FileSystem.js";
import type { Session } from "../Session.js";
import { command, type CommandSpec } from "./types.js";

/** Hex digest of the file `arg` with `algorithm`, streamed (constant memory). */
async function digestFile(s: Session, arg: string, algorithm: HashAlgorithm): Promise<{ hex: string; size: number; path: string }> {
  const path = s.resolve(arg);
  const { stream, size } = await s.fs.openRead(path);
  try {
    if (algorithm === "CRC32") {
      let crc = 0;
      for await (const chunk of stream) crc = crc32(chunk as Buffer, crc);
      return { hex: crc.toString(16).padStart(8, "0"), size, path };
    }
    const h = createHash(NODE_HASH_NAMES[algorithm]);
    for await (const chunk of stream) h.update(chunk as Buffer);
    return { hex: h.digest("hex"), size, path };
  } finally {
    stream.destroy();
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
    const st = await s.fs.stat(s.resolve(arg));
    if (!st.isFile()) throw new PathError(`${arg}: not a plain file`);
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
