import { ProtocolError } from "../protocol/index.js";
import { PasswordHashError } from "./Authenticator.js";
import { PathError } from "./FileSystem.js";
import { PathArgumentError } from "./pathNames.js";

/** A handler's refusal with a chosen reply code (e.g. 504 for an unsupported parameter). */
export class ReplyError extends Error {
  override readonly name = "ReplyError";
  constructor(readonly code: number, message: string) {
    super(message);
  }
}

const ERRNO_TEXT: Readonly<Record<string, [number, string]>> = {
  ENOENT: [550, "No such file or directory"],
  ENOTDIR: [550, "Not a directory"],
  EISDIR: [550, "Is a directory"],
  EEXIST: [550, "File exists"],
  ENOTEMPTY: [550, "Directory not empty"],
  EACCES: [550, "Permission denied"],
  EPERM: [550, "Operation not permitted"],
  ELOOP: [550, "Too many levels of symbolic links"],
  ENAMETOOLONG: [553, "File name too long"],
  ENOSPC: [452, "No space left on device"],
  EDQUOT: [452, "Disk quota exceeded"],
  EFBIG: [552, "File too large"],
  EROFS: [550, "Read-only file system"],
  ENXIO: [550, "Not a plain file"],
  EXDEV: [550, "Cannot rename across filesystems"],
  EINVAL: [550, "Invalid argument"],
};

/**
 * The reply for an error thrown by a handler. Node's fs messages carry local paths, which
 * would reveal where the root lives on disk, so only the errno's meaning and the user's own
 * argument are echoed.
 */
export function replyForError(err: unknown, arg: string): { code: number; text: string; unexpected: boolean } {
  const shown = arg.replace(/[\r\n\0]/g, "?").slice(0, 200);
  if (err instanceof ReplyError) return { code: err.code, text: err.message, unexpected: false };
  if (err instanceof PathError) return { code: 550, text: err.message, unexpected: false };
  if (err instanceof PathArgumentError) return { code: 501, text: err.message, unexpected: false };
  if (err instanceof ProtocolError) return { code: 501, text: err.message, unexpected: false };
  if (err instanceof PasswordHashError) return { code: 530, text: "Login incorrect", unexpected: true };
  const errno = (err as NodeJS.ErrnoException | undefined)?.code;
  const known = errno ? ERRNO_TEXT[errno] : undefined;
  if (known) return { code: known[0], text: `${shown}: ${known[1]}`, unexpected: false };
  return { code: 451, text: "Local error in processing", unexpected: true };
}
