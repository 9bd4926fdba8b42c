import { lstat } from "node:fs/promises";

/**
 * `get` onto an existing file: curl and lftp replace it, and so does ferry (atomically, by
 * rename), but the summary says so; `--no-clobber` (wget -nc, cp -n) leaves it and skips.
 */
export interface ClobberCheck {
  /** An entry already holds the final name. */
  exists: boolean;
}

/** Whether the download's final name is taken (by anything: a file, a link, a special file). */
export async function checkClobber(localPath: string): Promise<ClobberCheck> {
  const st = await lstat(localPath).catch(() => undefined);
  return { exists: st !== undefined };
}

/** The summary's note when a download replaced a file. */
export const REPLACED_NOTE = "; replaced the existing file";

/** The line `get --no-clobber` prints when it leaves an existing file alone. */
export function skippedLine(source: string, localPath: string): string {
  return `skipped ${source} → ${localPath}: ${localPath} exists (--no-clobber); nothing was downloaded\n`;
}
