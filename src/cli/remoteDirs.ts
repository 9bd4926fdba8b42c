import { posix } from "node:path";
import type { SyncPool } from "../sync/index.js";
import { remotePartPath } from "../sync/index.js";
import { CliError, ExitCode } from "./exitCodes.js";

/**
 * `put` to a folder that does not exist yet creates it and its parents, as the daemon's
 * outbox uploads do (the client's ensureDir: MKD per level, verified by CWD). One STAT
 * first, so a put into an existing folder costs a single command more.
 */
export async function ensureRemoteParent(pool: SyncPool, remotePath: string): Promise<void> {
  const dir = posix.dirname(remotePath);
  if (dir === "." || dir === "/" || dir === "") return;
  await pool.use(async (c) => {
    const there = await c.stat(dir);
    if (there?.type === "dir") return;
    if (there !== undefined && there.type !== "symlink") {
      throw new CliError(`${dir} exists on the server and is not a folder: pick another remote path`, ExitCode.Failed);
    }
    await c.ensureDir(dir);
  });
}

/**
 * An upload error as a person should read it: the server's reply names the temporary file
 * (".NAME.ferry-part") that ferry writes first, which the user never asked for; the
 * message names the path they gave instead. The original error stays as the cause.
 */
export function namingUserPath(err: unknown, remotePath: string): unknown {
  if (!(err instanceof Error) || err instanceof CliError) return err;
  const part = remotePartPath(remotePath);
  const partName = posix.basename(part);
  if (!err.message.includes(partName)) return err;
  const message = err.message.split(part).join(remotePath).split(partName).join(posix.basename(remotePath));
  // A plain Error around the original: toCliError still classifies it (and --json reports
  // the original class) through the cause chain.
  return new Error(message, { cause: err });
}
