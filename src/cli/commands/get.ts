import type { Command } from "commander";
import { stat } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { isRetriable } from "../../client/index.js";
import { createLogger } from "../../log/index.js";
import { formatBytes, localPartPath, transferFile, type TransferOutcome } from "../../sync/index.js";
import { makeLocalDir } from "../../sync/localWrite.js";
import { addTlsOptions, resolveRemote, type TlsFlags } from "../credentials.js";
import { CliError, ExitCode } from "../exitCodes.js";
import { addBwlimitOption, bucketFromFlag } from "../bwlimitOption.js";
import { createProgress } from "../progress.js";
import { commandLogOptions } from "../reportedWarnings.js";
import { isQuiet } from "../verbosity.js";
import { getCommandToStdout, STDIO, STDOUT_HELP } from "../stdio.js";
import { checkClobber, REPLACED_NOTE, skippedLine } from "../clobber.js";
import { printJson, skippedJson, transferJson } from "../jsonResult.js";
import { openRemote, toCliError } from "../remoteSession.js";

/** Register `ferry get URL [LOCAL] [--continue]`. */
export function registerGet(program: Command): void {
  addBwlimitOption(addTlsOptions(program.command("get")
    .description("download one file (to a temporary name, verified, then renamed into place)")
    .argument("<url>", "ftp://user@host/path/to/file")
    .argument("[local]", `local file or folder; default: the file's name in the current folder. ${STDOUT_HELP}`)
    .option("-c, --continue", "resume the .NAME.ferry-part left by an interrupted get; starts over from byte 0 (and says so) " +
      "when the remote file changed since the cut, or when nothing proves it did not (no record of the cut and no server checksum)")
    .option("--no-clobber", "leave an existing LOCAL alone and skip the download (exit 0); by default it is replaced, as curl does, and the summary says so")
    .option("--json", "print the result (or the failure) as JSON on stdout")))
    .action(async (url: string, local: string | undefined, flags: { continue?: boolean; clobber: boolean; json?: boolean; bwlimit?: string } & TlsFlags) => {
      const target = resolveRemote(url, process.env, flags);
      const bucket = bucketFromFlag(flags.bwlimit);
      if (local === STDIO) return getCommandToStdout(target, flags, bucket);
      const name = basename(target.url.path);
      if (name === "" || name === "." || name === "/") throw new CliError(`get ${target.display}: the URL names no file`, ExitCode.Usage);
      const localPath = await chooseLocal(local, name);
      const existing = await checkClobber(localPath);
      if (existing.exists && !flags.clobber) {
        if (flags.json) printJson(skippedJson("get", target.display, localPath, "exists (--no-clobber)"));
        else if (!isQuiet()) process.stdout.write(skippedLine(target.display, localPath));
        return;
      }
      await makeLocalDir(dirname(localPath)).catch((err: unknown) => { throw toCliError(`get ${target.display}`, err); });
      const logger = createLogger(commandLogOptions());
      const session = await openRemote(target, { max: 1, logger });
      const progress = createProgress();
      let outcome: TransferOutcome;
      const started = performance.now();
      try {
        const remote = await session.pool.use((c) => c.stat(target.url.path));
        if (!remote) throw new CliError(`get ${target.display}: no such file on the server`, ExitCode.Failed);
        if (remote.type !== "file") throw new CliError(`get ${target.display}: it is a ${remote.type === "dir" ? "folder: use ferry mirror" : remote.type}`, ExitCode.Failed);
        const size = remote.size ?? (await session.pool.use((c) => c.size(target.url.path)));
        const resumeFrom = flags.continue ? await stat(localPartPath(localPath)).then((s) => s.size, () => 0) : 0;
        progress.start(1, size - resumeFrom);
        const t = {
          localPath, remotePath: target.url.path, size, ...(remote.modifiedAt ? { mtime: remote.modifiedAt } : {}), ...(resumeFrom ? { resumeFrom } : {}),
          ...(remote.facts?.unique ? { unique: remote.facts.unique } : {}),
          records: { origin: serverOrigin(target.url) }, // a partial cut from another server is not resumed
        };
        outcome = await transferFile(t, {
          direction: "download", pool: session.pool, isRetriable, onBytes: (n) => progress.bytes?.(n), ...(bucket ? { bucket } : {}),
          onRetry: (err, retry, delayMs) => logger.warn({ retry, delayMs, err: (err as Error).message }, "download failed, retrying"),
        });
      } catch (err) {
        throw toCliError(`get ${target.display}`, err);
      } finally {
        progress.stop();
        await session.close();
      }
      const elapsed = performance.now() - started;
      if (flags.json) printJson(transferJson("get", { source: target.display, destination: localPath, outcome, elapsedMs: elapsed, replaced: existing.exists }));
      else printOutcome("downloaded", `${target.display} → ${localPath}`, outcome, elapsed, existing.exists ? REPLACED_NOTE : "");
    });
}

/** The server a partial belongs to, as recorded with it (partIdentity; no password, no path). */
export function serverOrigin(url: { user?: string; host: string; port: number }): string {
  return `${url.user ?? "anonymous"}@${url.host}:${url.port}`;
}

/** Where a download lands: LOCAL, LOCAL/NAME when LOCAL is a folder, or ./NAME. */
async function chooseLocal(local: string | undefined, name: string): Promise<string> {
  if (local === undefined) return resolve(name);
  const isDir = local.endsWith("/") || (await stat(local).then((s) => s.isDirectory(), () => false));
  return isDir ? resolve(join(local, name)) : resolve(local);
}

/** The one-line result of get/put on stdout. */
export function printOutcome(verb: string, what: string, o: TransferOutcome, ms: number, note = ""): void {
  if (isQuiet()) return;
  const secs = ms / 1000;
  const how = o.verified === "size only" ? "size only (the server offers no checksum)" : o.verified;
  const start = o.offset ? ` (resumed at byte ${o.offset})` : o.restarted ? ` (restarted from byte 0: ${o.restarted})` : "";
  process.stdout.write(`${verb} ${what}: ${formatBytes(o.bytes)}${start} in ${secs.toFixed(1)} s, verified by ${how}${note}\n`);
}
