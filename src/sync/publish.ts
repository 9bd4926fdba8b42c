import { rename as renameWithCallback } from "node:fs";
import { lutimes } from "node:fs/promises";
import { promisify } from "node:util";
import { FtpReplyError } from "../protocol/index.js";
import { toLocalFileError } from "./localErrors.js";
import { assertOwnPart, type PartIdentity } from "./localWrite.js";
import type { SyncClient } from "./remote.js";

// The last stage of a transfer: a verified temporary file is renamed into place and given the
// source's mtime. Nothing reaches a final name by any other way.

const renameCallback = promisify(renameWithCallback);

/**
 * Rename the remote partial into place and give it the source's mtime; resolves with whether
 * the time was set (a refused time only costs a later re-check). With a client that can, the
 * time goes on the partial and the rename follows in the same round trip (renameWithTime);
 * otherwise the time is set after the rename. Servers that refuse to rename over a file get
 * it removed first.
 */
export async function publishRemote(client: SyncClient, part: string, target: string, mtime?: Date): Promise<boolean> {
  const setTime = (): Promise<boolean> => (mtime ? client.setModifiedTime(target, mtime).catch((err: unknown) => {
    if (err instanceof FtpReplyError) return false;
    throw err;
  }) : Promise.resolve(false));
  try {
    if (client.renameWithTime) return await client.renameWithTime(part, target, mtime);
    await client.rename(part, target);
    return await setTime();
  } catch (err) {
    if (!(err instanceof FtpReplyError)) throw err;
    const exists = await client.stat(target).catch(() => undefined);
    if (!exists || exists.type !== "file") throw err;
    await client.remove(target);
    await client.rename(part, target);
    return setTime();
  }
}

/**
 * Rename the local temporary file into place once it is checked to be the regular file ferry
 * wrote (a link swapped in is refused, never published). Renaming over a link at the final
 * name replaces the link itself: nothing is written through it. The time, when given, goes on
 * first (lutimes: never through a link), so the published file has it from the start; a
 * failure is a LocalFileError naming the target.
 */
export async function publishLocal(part: string, id: PartIdentity, target: string, mtime?: Date): Promise<void> {
  try {
    if (mtime) await lutimes(part, mtime, mtime);
    assertOwnPart(part, id);
    await renameCallback(part, target);
  } catch (err) {
    throw toLocalFileError(err, target);
  }
}
