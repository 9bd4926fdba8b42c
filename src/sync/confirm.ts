import { stat } from "node:fs/promises";
import type { SyncClient } from "./remote.js";
import { publishRemote } from "./publish.js";
import type { FileTransfer, TransferOutcome } from "./transfer.js";
import { hashLocalFile, remoteSize, verifyServerHash, VerifyError, type Verification } from "./verify.js";

// FAULTS.md C3: the control connection stalls after 150 while the data flows. Every byte
// arrives but the 226 never does, so the attempt ends in a reply timeout with a complete
// partial file. The next attempt (on a fresh connection) confirms that partial with SIZE, and
// the checksum when the server can hash, and publishes it: no second transfer, one publish.
// A partial that fails the check is a VerifyError, so the next attempt starts over.

/** The verification of a partial that already holds every byte: size (and checksum when available). */
async function verifyWhole(client: SyncClient, part: { local: string; remote: string }, size: number): Promise<Verification> {
  const remote = await remoteSize(client, part.remote);
  if (remote !== size) throw new VerifyError(`size check failed: expected ${size} bytes, server has ${remote}`);
  return verifyServerHash(client, part.remote, (algorithm) => hashLocalFile(part.local, algorithm), "local");
}

/**
 * A download whose local partial `part` already holds `t.size` bytes: verify against the
 * server, then `publish` it (the caller's safe rename: never through a link).
 */
export async function confirmDownloaded(client: SyncClient, t: FileTransfer, part: string, publish: () => Promise<void>): Promise<TransferOutcome> {
  const v = await verifyWhole(client, { local: part, remote: t.remotePath }, t.size);
  await publish();
  return { bytes: 0, offset: t.size, ...v, mtimeSet: t.mtime !== undefined };
}

/** An upload whose remote partial `part` already holds `t.size` bytes: verify it against the local file, then publish it. */
export async function confirmUploaded(client: SyncClient, t: FileTransfer, part: string): Promise<TransferOutcome> {
  const local = await stat(t.localPath);
  if (local.size !== t.size) throw new VerifyError(`the local file changed size while sending (${t.size} → ${local.size})`);
  const v = await verifyWhole(client, { local: t.localPath, remote: part }, t.size);
  const mtimeSet = await publishRemote(client, part, t.remotePath, t.mtime);
  return { bytes: 0, offset: t.size, ...v, mtimeSet };
}
