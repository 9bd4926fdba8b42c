import { randomBytes } from "node:crypto";

/**
 * Names the server reserves or refuses, in one place so resolving, listing and uploading
 * agree (FAULTS.md A12, A17).
 *
 * Encoding (A12): path arguments are UTF-8 (RFC 2640; FEAT says UTF8) and are used
 * byte-exactly: no Unicode normalisation, so an NFC and an NFD spelling of a name are two
 * different files, as on a Linux filesystem. A command line is decoded as UTF-8, which turns
 * every byte sequence that is not valid UTF-8 (a stray 0xFF, an overlong C0 AE for ".") into
 * U+FFFD; two different raw names would then land on one file. So a path argument holding
 * U+FFFD is refused with 501, whether it came from invalid bytes or was sent as the
 * character itself, and an overlong "." is never taken for ".". Entries on disk whose names
 * are not valid UTF-8 cannot be named by a client and are left out of listings. A name
 * longer than the filesystem allows gets 553 (ENAMETOOLONG).
 */

/** Prefix of an upload's hidden temporary file beside its target (A17). */
export const UPLOAD_TEMP_PREFIX = ".ferry-upload.";

/** A fresh temporary name for an upload: fixed length, so a target name near the filesystem's limit still fits. */
export function uploadTempName(): string {
  return `${UPLOAD_TEMP_PREFIX}${randomBytes(8).toString("hex")}`;
}

/** True for names reserved for upload temporaries: never listed, never a command's target. */
export function isReservedName(name: string): boolean {
  return name.startsWith(UPLOAD_TEMP_PREFIX);
}

/** True when a directory entry stays out of listings: an upload in progress, or a name no client can send back. */
export function isUnlistedName(name: string): boolean {
  return isReservedName(name) || name.includes("\uFFFD");
}

/** A path argument that is not valid UTF-8: replied 501 (a syntax error in the argument). */
export class PathArgumentError extends Error {
  override readonly name = "PathArgumentError";
}

/** Throw PathArgumentError when `arg` held bytes that are not UTF-8 (decoded as U+FFFD). */
export function checkPathEncoding(arg: string): void {
  if (arg.includes("\uFFFD")) {
    throw new PathArgumentError("path is not valid UTF-8 (or holds U+FFFD): send names as UTF-8 (RFC 2640)");
  }
}
