import type { Logger } from "../log/index.js";
import {
  FtpReplyError, LEGACY_HASH_COMMANDS, ProtocolError, formatTimeVal, parseMlsxLine, parseTimeVal, remoteBasename,
  remoteDirname, type HashAlgorithm, type Reply,
} from "../protocol/index.js";
import { replyMessage } from "./ControlChannel.js";
import { isNotUnderstood } from "./errors.js";
import type { Capabilities } from "./features.js";
import type { RemoteEntry } from "./FtpClient.js";

// The single-file questions of FtpClient (stat, size, times, checksums), kept apart from the
// connection and transfer code. Each takes the few things it needs from the client.

/** What the queries need from a client. */
export interface Queries {
  request(verb: string, arg?: string): Promise<Reply>;
  readonly features: Capabilities;
  list(dir: string): Promise<RemoteEntry[]>;
  readonly logger: Logger;
}

const HEX_LENGTH: Readonly<Record<HashAlgorithm, number>> = { "SHA-256": 64, "SHA-1": 40, MD5: 32, CRC32: 8 };

/** True for an FtpReplyError, with one of `codes` when given. */
export const isReplyError = (err: unknown, ...codes: number[]): err is FtpReplyError =>
  err instanceof FtpReplyError && (codes.length === 0 || codes.includes(err.code));

/** MLST, else SIZE+MDTM, else the parent's listing; undefined when the path does not exist. */
export async function statPath(q: Queries, path: string): Promise<RemoteEntry | undefined> {
  if (q.features.mlst) {
    try {
      const reply = await q.request("MLST", path);
      // RFC 3659 section 7.2 puts one space before the facts line; pure-ftpd sends none.
      const line = reply.lines.slice(1, -1).find((l) => l.includes("=")) ?? reply.lines.find((l) => /^\s*\S+=.*;/.test(l));
      if (!line) throw new ProtocolError(`MLST ${path}: no facts in ${JSON.stringify(replyMessage(reply))}`);
      const entry = parseMlsxLine(line.trimStart());
      if (!entry) return { name: remoteBasename(path) || path, type: "dir" };
      return { ...entry, name: remoteBasename(entry.name) || entry.name };
    } catch (err) {
      if (isReplyError(err, 550, 450)) return undefined;
      if (!isNotUnderstood(err)) throw err;
    }
  }
  return statWithoutMlst(q, path);
}

async function statWithoutMlst(q: Queries, path: string): Promise<RemoteEntry | undefined> {
  const name = remoteBasename(path);
  if (name === "" || path === "/") return { name: "/", type: "dir" };
  // "." and ".." are directories by definition and never appear as entries of a listing.
  if (name === "." || name === "..") return { name, type: "dir" };
  try {
    const size = await sizeOf(q, path);
    const entry: RemoteEntry = { name, type: "file", size };
    try {
      entry.modifiedAt = await modifiedTimeOf(q, path);
    } catch (err) {
      if (!isReplyError(err)) throw err;
    }
    return entry;
  } catch (err) {
    if (!isReplyError(err)) throw err;
  }
  // SIZE fails for directories (vsftpd: "550 Could not get file size"): look in the parent.
  try {
    const entries = await q.list(path.includes("/") ? remoteDirname(path) : "");
    return entries.find((e) => e.name === name);
  } catch (err) {
    if (isReplyError(err, 550, 450)) return undefined;
    throw err;
  }
}

/** SIZE (RFC 3659 section 4). */
export async function sizeOf(q: Queries, path: string): Promise<number> {
  const text = replyMessage(await q.request("SIZE", path));
  if (!/^\d+$/.test(text)) throw new ProtocolError(`SIZE ${path}: not a number: ${JSON.stringify(text.slice(0, 40))}`);
  return Number(text);
}

/** MDTM (RFC 3659 section 3), UTC. */
export async function modifiedTimeOf(q: Queries, path: string): Promise<Date> {
  return parseTimeVal(replyMessage(await q.request("MDTM", path)).split(" ")[0] ?? "");
}

/** MFMT, else the two-argument MDTM; false when the server cannot set times. */
export async function setModifiedTimeOf(q: Queries, path: string, date: Date): Promise<boolean> {
  const time = formatTimeVal(date).slice(0, 14);
  if (q.features.mfmt) {
    await q.request("MFMT", `${time} ${path}`);
    return true;
  }
  if (!q.features.mdtm) return false;
  try {
    const reply = await q.request("MDTM", `${time} ${path}`);
    // A server without the two-argument form may answer as for a query about a file
    // literally named "<time> <path>": that reply carries a time, a real "set" does not.
    return !/^\d{14}/.test(replyMessage(reply));
  } catch (err) {
    if (isReplyError(err) && err.isPermanent) {
      q.logger.debug({ path, code: err.code }, "ftp: server cannot set times with MDTM");
      return false;
    }
    throw err;
  }
}

/** HASH (after OPTS HASH when another algorithm is selected), else the legacy X* commands. */
export async function hashOf(q: Queries, path: string, prefs: readonly HashAlgorithm[], state: { selected: HashAlgorithm | undefined }):
  Promise<{ algorithm: HashAlgorithm; value: string } | undefined> {
  const viaHash = prefs.find((a) => q.features.hash.includes(a));
  if (viaHash) {
    if (state.selected !== viaHash) {
      await q.request("OPTS", `HASH ${viaHash}`);
      state.selected = viaHash;
    }
    // "213 SHA-256 0-49 <hex> <name>" (draft-bryan-ftp-hash section 3.1)
    const words = replyMessage(await q.request("HASH", path)).split(" ");
    return { algorithm: viaHash, value: hex(words[2], viaHash, "HASH") };
  }
  const legacy = prefs.find((a) => q.features.legacyHash.includes(a));
  if (!legacy) return undefined;
  const command = LEGACY_HASH_COMMANDS[legacy];
  const words = replyMessage(await q.request(command, path)).split(" ");
  const found = words.find((w) => /^[0-9a-f]+$/i.test(w) && w.length === HEX_LENGTH[legacy]) ?? words.find((w) => /^[0-9a-f]+$/i.test(w));
  return { algorithm: legacy, value: hex(found, legacy, command) };
}

function hex(text: string | undefined, algorithm: HashAlgorithm, command: string): string {
  if (!text || !/^[0-9a-f]+$/i.test(text)) throw new ProtocolError(`${command}: no ${algorithm} value in the reply`);
  return text.toLowerCase();
}
