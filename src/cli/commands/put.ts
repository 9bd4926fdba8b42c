import type { Command } from "commander";
import { stat } from "node:fs/promises";
import { basename, resolve } from "node:path";
import { isRetriable, FtpReplyError } from "../../client/index.js";
import { createLogger } from "../../log/index.js";
import { remotePartPath, transferFile, type TransferOutcome } from "../../sync/index.js";
import { addTlsOptions, resolveRemote, type TlsFlags } from "../credentials.js";
import { CliError, ExitCode } from "../exitCodes.js";
import { addBwlimitOption, bucketFromFlag } from "../bwlimitOption.js";
import { createProgress } from "../progress.js";
import { commandLogOptions } from "../reportedWarnings.js";
import { openRemote, toCliError } from "../remoteSession.js";
import { printOutcome, serverOrigin } from "./get.js";
import { printJson, transferJson } from "../jsonResult.js";
import { putCommandFromStdin, STDIN_HELP, STDIO } from "../stdio.js";
import { ensureRemoteParent, namingUserPath } from "../remoteDirs.js";

/** Register `ferry put LOCAL URL [--continue]`. */
export function registerPut(program: Command): void {
  addBwlimitOption(addTlsOptions(program.command("put")
    .description("upload one file (to a temporary name, verified, then renamed into place)")
    .argument("<local>", `local file. ${STDIN_HELP}`)
    .argument("<url>", "ftp://user@host/path/to/file, or a folder URL ending in /")
    .option("-c, --continue", "resume the .NAME.ferry-part left on the server by an interrupted put; starts over from byte 0 " +
      "(and says so) when the local file changed since the cut (size, mtime, ctime, inode), or when nothing proves it did not " +
      "(no record of the cut and no server checksum)")
    .option("--json", "print the result (or the failure) as JSON on stdout")))
    .action(async (local: string, url: string, flags: { continue?: boolean; json?: boolean; bwlimit?: string } & TlsFlags) => {
      if (local === STDIO) return putCommandFromStdin(resolveRemote(url, process.env, flags), url, flags, bucketFromFlag(flags.bwlimit));
      const localPath = resolve(local);
      const st = await stat(localPath).catch(() => undefined);
      if (!st) throw new CliError(`put: ${local}: no such file`, ExitCode.Usage);
      if (!st.isFile()) throw new CliError(`put: ${local} is not a file${st.isDirectory() ? ": use ferry mirror for folders" : ""}`, ExitCode.Usage);
      const target = resolveRemote(url, process.env, flags);
      const bucket = bucketFromFlag(flags.bwlimit);
      const logger = createLogger(commandLogOptions());
      const session = await openRemote(target, { max: 1, logger });
      const progress = createProgress();
      const started = performance.now();
      let outcome: TransferOutcome;
      let remotePath = target.url.path;
      try {
        const there = remotePath === "." || url.endsWith("/") ? { type: "dir" } : await session.pool.use((c) => c.stat(remotePath));
        if (there?.type === "dir") remotePath = remotePath === "." ? basename(localPath) : `${remotePath.replace(/\/+$/, "")}/${basename(localPath)}`;
        await ensureRemoteParent(session.pool, remotePath);
        const resumeFrom = flags.continue ? await session.pool.use((c) => c.size(remotePartPath(remotePath)))
          .catch((err: unknown) => { if (err instanceof FtpReplyError && err.code >= 450) return 0; throw err; }) : 0;
        progress.start(1, st.size - resumeFrom);
        const t = { localPath, remotePath, size: st.size, mtime: st.mtime, ...(resumeFrom ? { resumeFrom } : {}), records: { origin: serverOrigin(target.url) } };
        outcome = await transferFile(t, {
          direction: "upload", pool: session.pool, isRetriable, onBytes: (n) => progress.bytes?.(n), ...(bucket ? { bucket } : {}),
          onRetry: (err, retry, delayMs) => logger.warn({ retry, delayMs, err: (err as Error).message }, "upload failed, retrying"),
        });
      } catch (err) {
        throw toCliError(`put ${localPath} → ${target.display}`, namingUserPath(err, remotePath));
      } finally {
        progress.stop();
        await session.close();
      }
      const destination = `${target.display.replace(/\/?$/, "")}${remotePath !== target.url.path ? `/${basename(localPath)}` : ""}`;
      const elapsed = performance.now() - started;
      if (flags.json) printJson(transferJson("put", { source: localPath, destination, outcome, elapsedMs: elapsed }));
      else printOutcome("uploaded", `${localPath} → ${destination}`, outcome, elapsed);
    });
}
