import { randomBytes } from "node:crypto";
import type { Socket } from "node:net";
import { pipeline } from "node:stream/promises";
import { fromNetworkAscii, toNetworkAscii } from "../ascii.js";
import { STREAM_CHUNK_BYTES } from "../limits.js";
import { sendFile } from "../sendFile.js";
import { receiveFile, streamToFile } from "../receiveFile.js";
import { isLocalFileError, toLocalFileError } from "../../sync/localErrors.js";
import { ReplyError } from "../errors.js";
import { PathError, type VirtualPath } from "../FileSystem.js";
import type { Unfinished, Upload, UploadMode } from "../Upload.js";
import { fileState, runningDigest, type RunningDigest } from "../digestCache.js";
import type { HashAlgorithm } from "../../protocol/index.js";
import type { BigIntStats } from "node:fs";
import type { Session, TransferResult } from "../Session.js";
import { command, type CommandSpec } from "./types.js";

async function retr(s: Session, arg: string): Promise<void> {
  const path = s.resolve(arg);
  const offset = s.takeRestOffset();
  const { handle, size, stats, statAt } = await s.fs.openFile(path);
  try {
    if (!s.requireDataChannel()) return;
    if (offset > size) return s.reply(554, `REST offset ${offset} is beyond the end of the file (${size} bytes)`);
    await s.runTransfer("RETR", path, `Opening ${s.type === "A" ? "ASCII" : "BINARY"} data connection for ${path} (${size - offset} bytes)`,
      async (data, signal) => {
        if (s.type === "I") {
          let sent = 0;
          s.setTransferProgress(() => sent);
          // The whole file read for a client that checks what it got: its HASH comes next.
          const algorithm = s.hashAlgorithm;
          const digest = s.usesHash && offset === 0 ? runningDigest(algorithm) : undefined;
          const bytes = await sendFile(handle, offset, data, signal, (n) => (sent = n), digest);
          if (digest) {
            // Unchanged from the open to the end of the read: the digest is of the file's bytes.
            // Only an optimisation: a failed stat leaves the sent file sent.
            const after = await handle.stat({ bigint: true }).catch(() => undefined);
            if (after && fileState(after) === fileState(stats) && s.options.digests.canKeep(after, statAt)) {
              s.options.digests.remember(fileState(after), algorithm, digest.hex());
            }
          }
          return { bytes };
        }
        const stream = handle.createReadStream({ start: offset, highWaterMark: STREAM_CHUNK_BYTES, autoClose: false });
        s.setTransferProgress(() => stream.bytesRead);
        await pipeline(stream, toNetworkAscii(), data, { signal });
        return { bytes: stream.bytesRead };
      });
  } finally {
    await handle.close(); // also when the data connection never came
  }
}

/**
 * The reply for an upload that failed on the server's disk: 452 for a full disk or quota
 * (RFC 959 "insufficient storage space"), 552 for a file larger than allowed; other errors
 * pass through as the transfer's 426.
 */
function uploadFailure(err: unknown, path: VirtualPath): unknown {
  const local = toLocalFileError(err, path);
  if (isLocalFileError(local) && local.condition === "disk-full") {
    return new ReplyError(452, `${path}: the server's disk is full (${local.code}); nothing was stored, an existing file is unchanged`);
  }
  if ((err as NodeJS.ErrnoException | undefined)?.code === "EFBIG") return new ReplyError(552, `${path}: file too large for the server's disk; nothing was stored`);
  return err;
}

/** Receive an upload through `s.fs.openUpload` (modes in Upload.ts); published only when the data ended cleanly. */
async function receive(s: Session, verb: string, path: VirtualPath, mode: UploadMode, offset: number, preliminary: string): Promise<void> {
  if (!s.requireDataChannel()) return;
  const upload = await s.fs.openUpload(path, mode, offset);
  let unfinished: Unfinished = "keep-if-new"; // a cut upload of a new file stays resumable (Upload.ts)
  try {
    // A client that checks what it sent (HASH) gets the digest of the bytes as they were
    // written, without the server reading the file again (DigestCache).
    const algorithm = s.hashAlgorithm;
    const written = s.usesHash && s.type === "I" && upload.isWholeFile ? await upload.tempIdentity().catch(() => undefined) : undefined;
    const tap = written ? { digest: runningDigest(algorithm), written } : undefined;
    await s.runTransfer(verb, path, preliminary, async (data: Socket, signal): Promise<TransferResult> => {
      let received = 0;
      s.setTransferProgress(() => received);
      const options = {
        start: upload.start, signal, onProgress: (n: number) => (received = n),
        ...(tap ? { onBytes: (chunk: Buffer) => tap.digest.update(chunk) } : {}),
      };
      try {
        // Only an orderly end of the data stream (FIN) marks an upload complete: both reject otherwise.
        const bytes = s.type === "A"
          ? await streamToFile(data, upload.handle, { ...options, transform: fromNetworkAscii() })
          : await receiveFile(data, upload.handle, { ...options, stallTimeoutMs: s.options.limits.dataTimeoutMs });
        signal.throwIfAborted(); // ABOR or a dropped control connection: never publish
        await upload.commit();
        // Only an optimisation: the file is published, whatever happens here.
        if (tap) await rememberUpload(s, upload, tap.written, algorithm, tap.digest).catch(() => undefined);
        return { bytes };
      } catch (err) {
        const failure = uploadFailure(err, path);
        if (failure !== err) unfinished = "discard"; // a full disk: keeping the bytes would keep it full
        throw failure;
      }
    });
  } finally {
    await upload.close(unfinished); // settles an unpublished temp file, also when the data connection never came
  }
}

/**
 * Keep the digest of a published upload under the state the file has now, after its
 * rename: a later change of the file by anyone moves that state (digestCache.ts). The
 * device's timestamps are probed first, once: where they are coarse, a fresh file's state
 * could survive a change within the same tick, and nothing is kept.
 */
async function rememberUpload(s: Session, upload: Upload, written: BigIntStats, algorithm: HashAlgorithm, digest: RunningDigest): Promise<void> {
  const digests = s.options.digests;
  if (!digests.knows(written.dev)) await upload.probeTimestamps(digests, written.dev);
  const statAt = Date.now(); // no later than the stat: see DigestCache.canKeep
  const st = await upload.publishedState(written);
  if (st && digests.canKeep(st, statAt)) digests.remember(fileState(st), algorithm, digest.hex());
}

async function stor(s: Session, arg: string): Promise<void> {
  const path = s.resolve(arg);
  const offset = s.takeRestOffset();
  await receive(s, "STOR", path, offset > 0 ? "resume" : "replace", offset, `Ready to receive ${path}${offset ? ` from byte ${offset}` : ""}`);
}

async function appe(s: Session, arg: string): Promise<void> {
  s.takeRestOffset();
  const path = s.resolve(arg);
  await receive(s, "APPE", path, "append", 0, `Ready to append to ${path}`);
}

async function stou(s: Session, arg: string): Promise<void> {
  s.takeRestOffset();
  const base = arg === "" ? "ferry" : arg;
  for (let attempt = 0; attempt < 5; attempt++) {
    const path = s.resolve(`${base}.${randomBytes(4).toString("hex")}`);
    if (await s.fs.exists(path)) continue;
    // RFC 1123 section 4.1.2.9: the 150 reply names the file as "FILE: name".
    return receive(s, "STOU", path, "new", 0, `FILE: ${path.slice(path.lastIndexOf("/") + 1)}`);
  }
  throw new PathError("could not find a unique name");
}

/** File transfers: RETR STOR APPE STOU REST ABOR. */
export const TRANSFER_COMMANDS: readonly CommandSpec[] = [
  command("RETR", "RETR <path>", retr, { arg: "required", perm: "read" }),
  command("STOR", "STOR <path>", stor, { arg: "required", perm: "create" }),
  command("APPE", "APPE <path>", appe, { arg: "required", perm: "append" }),
  command("STOU", "STOU [name prefix]", stou, { perm: "create" }),
  command("REST", "REST <byte offset>", async (s, arg) => {
    if (!/^\d{1,15}$/.test(arg.trim())) return s.reply(501, "REST needs a byte offset (a non-negative integer)");
    s.restOffset = Number(arg.trim());
    s.reply(350, `Restarting at ${s.restOffset}: send RETR or STOR`);
  }, { arg: "required", feat: "REST STREAM" }),
  command("ABOR", "ABOR", async (s) => {
    // RFC 959 section 4.1.3: an aborted transfer draws 426 first, then ABOR's own 226.
    if (await s.abortTransfer("aborted by client (ABOR)")) return s.reply(226, "ABOR successful");
    s.reply(225, "No transfer to abort");
  }, { duringTransfer: true, arg: "forbidden" }),
];
