/**
 * Failures of the local disk while ferry writes (or reads) a local file, translated once from
 * Node's errno codes into a typed error that names the path and the cause. The CLI prints its
 * message and exits 1; the daemon defers the job with a long backoff instead of retrying in a
 * tight loop (FAULTS.md I15, D4, D6, D8), and `ferry status` shows the `condition`.
 */

/** What is wrong with the local side, as a person would say it. */
export type LocalCondition = "disk-full" | "read-only" | "permission" | "not-a-directory" | "too-long";

const BY_CODE: Readonly<Record<string, { condition: LocalCondition; words: string; fix: string }>> = {
  ENOSPC: { condition: "disk-full", words: "destination full", fix: "free space on that filesystem; the transfer resumes once there is room" },
  EDQUOT: { condition: "disk-full", words: "disk quota exceeded", fix: "raise the quota or free space" },
  EROFS: { condition: "read-only", words: "destination is read-only", fix: "remount it read-write or choose another destination" },
  EACCES: { condition: "permission", words: "permission denied", fix: "give the user running ferry write access, or choose another destination" },
  EPERM: { condition: "permission", words: "operation not permitted", fix: "give the user running ferry write access, or choose another destination" },
  ENOTDIR: { condition: "not-a-directory", words: "a part of the path is not a folder", fix: "remove or rename the file that stands where a folder is needed" },
  ENAMETOOLONG: { condition: "too-long", words: "name too long for this filesystem", fix: "shorten the name or use a filesystem that allows it" },
};

/** A local filesystem failure with its path, cause and what to do about it. */
export class LocalFileError extends Error {
  override readonly name = "LocalFileError";
  constructor(
    readonly condition: LocalCondition,
    /** The local path the operation failed on. */
    readonly path: string,
    /** The errno code (ENOSPC, EROFS, …). */
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The errno code of a Node system error, if it is one. */
function errnoCode(err: unknown): string | undefined {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).code === "string" ? (err as NodeJS.ErrnoException).code : undefined;
}

/**
 * Translate a local filesystem error into a LocalFileError naming `path` (or the error's own
 * path when it has one), e.g. "destination full: /data/x.bin (ENOSPC): free space …". Errors
 * that are not local-disk conditions (and LocalFileErrors already) are returned unchanged.
 */
export function toLocalFileError(err: unknown, path: string): unknown {
  if (err instanceof LocalFileError) return err;
  const code = errnoCode(err);
  const known = code === undefined ? undefined : BY_CODE[code];
  if (!known || code === undefined) return err;
  const where = (err as NodeJS.ErrnoException).path ?? path;
  return new LocalFileError(known.condition, where, code, `${known.words}: ${where} (${code}): ${known.fix}`, { cause: err });
}

/** Whether `err` is a local-disk condition (after translation or before). */
export function isLocalFileError(err: unknown): err is LocalFileError {
  return err instanceof LocalFileError;
}

/** A short status phrase for a condition, as `ferry status` shows it ("local disk full"). */
export function describeLocalCondition(condition: LocalCondition): string {
  switch (condition) {
    case "disk-full": return "local disk full";
    case "read-only": return "local destination read-only";
    case "permission": return "local permission denied";
    case "not-a-directory": return "local path blocked by a file";
    case "too-long": return "local name too long";
  }
}
