import type { Command } from "commander";
import { isRetriable } from "../../client/index.js";
import { createLogger } from "../../log/index.js";
import {
  createFilter, DEFAULT_RETRY, defaultStateDir, describePlan, formatBytes, runMirror, stateFileFor, SyncState,
  type MirrorOutcome, type PathFilter,
} from "../../sync/index.js";
import { addTlsOptions, isRemoteArg, resolveRemote, type TlsFlags } from "../credentials.js";
import { CliError, ExitCode, UsageError } from "../exitCodes.js";
import { addBwlimitOption, bucketFromFlag } from "../bwlimitOption.js";
import { createProgress } from "../progress.js";
import { commandLogOptions } from "../reportedWarnings.js";
import { isQuiet } from "../verbosity.js";
import { openRemote, toCliError } from "../remoteSession.js";
import { resolve } from "node:path";
import { parseMaxDelete, type MaxDelete } from "../../sync/deleteGuard.js";
import { LISTING_DEFAULTS } from "../../protocol/index.js";
import { listingLimitsOf, rejectedCount, type ListingLimits } from "./listingFlags.js";

/** The options `ferry mirror` accepts (`ferry mirror --help` lists them). */
interface MirrorFlags extends TlsFlags {
  delete?: boolean;
  allowEmptySource?: boolean;
  maxDelete?: string;
  dryRun?: boolean;
  checksum?: boolean;
  parallel: string;
  include: string[];
  exclude: string[];
  bwlimit?: string;
  json?: boolean;
  followSymlinks?: boolean;
  maxEntries?: string;
  maxDirEntries?: string;
  maxDepth?: string;
}

const collect = (v: string, prev: string[]) => [...prev, v];

/** Parse --parallel: a whole number from 1 to 64. */
export function parseParallel(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new UsageError(`--parallel must be a whole number from 1 to 64, not ${JSON.stringify(text)}`);
  return n;
}

/** Register `ferry mirror SRC DST`. */
export function registerMirror(program: Command): void {
  addBwlimitOption(addTlsOptions(program.command("mirror")
    .description("make DST equal to SRC: one side a local folder, the other an ftp:// URL")
    .argument("<src>", "source: local folder or ftp://user@host/path")
    .argument("<dst>", "destination: local folder or ftp://user@host/path")
    .option("--delete", "delete destination entries the source lacks (only after an error-free run)")
    .option("--allow-empty-source", "with --delete: delete even when the source holds no files (refused by default)")
    .option("--max-delete <n|p%>", "with --delete: refuse to delete more than N entries, or P% of the destination's entries (default unlimited)")
    .option("-n, --dry-run", "print the plan and change nothing")
    .option("--checksum", "compare files by checksum where the server can hash")
    .option("--parallel <n>", "transfers at once (1-64)", "4")
    .option("--include <glob>", "only files matching (repeatable)", collect, [])
    .option("--exclude <glob>", "leave out files and folders matching (repeatable)", collect, [])
    .option("--follow-symlinks", "follow local symlinks that stay inside the source tree (default: skip them)")
    .option("--json", "print the result as JSON on stdout")))
    .option("--max-entries <n>", `refuse a remote tree with more entries (default ${LISTING_DEFAULTS.maxEntries})`)
    .option("--max-dir-entries <n>", `refuse a remote folder with more entries (default ${LISTING_DEFAULTS.maxDirEntries})`)
    .option("--max-depth <n>", `refuse a remote tree deeper than this (default ${LISTING_DEFAULTS.maxDepth})`)
    .action(async (src: string, dst: string, flags: MirrorFlags) => {
      process.exitCode = await mirrorCommand(src, dst, flags);
    });
}

async function mirrorCommand(src: string, dst: string, flags: MirrorFlags): Promise<number> {
  const srcRemote = isRemoteArg(src), dstRemote = isRemoteArg(dst);
  if (srcRemote === dstRemote) {
    throw new UsageError(srcRemote ? "both sides are remote: one of SRC and DST must be a local folder"
      : "both sides are local: one of SRC and DST must be an ftp:// URL");
  }
  const direction = srcRemote ? "download" : "upload";
  const target = resolveRemote(srcRemote ? src : dst, process.env, flags);
  const localRoot = resolve(srcRemote ? dst : src);
  const parallel = parseParallel(flags.parallel);
  if (!flags.delete && (flags.maxDelete !== undefined || flags.allowEmptySource)) {
    throw new UsageError(`${flags.maxDelete !== undefined ? "--max-delete" : "--allow-empty-source"} limits what --delete removes: add --delete, or leave it out`);
  }
  let filter: PathFilter | undefined;
  let maxDelete: MaxDelete | undefined;
  let listingLimits: ListingLimits;
  try {
    listingLimits = listingLimitsOf(flags);
    filter = flags.include.length + flags.exclude.length > 0 ? createFilter({ include: flags.include, exclude: flags.exclude }) : undefined;
    maxDelete = flags.maxDelete !== undefined ? parseMaxDelete(flags.maxDelete) : undefined;
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const bucket = bucketFromFlag(flags.bwlimit);
  const logger = createLogger(commandLogOptions());
  const srcName = srcRemote ? target.display : localRoot;
  const dstName = srcRemote ? localRoot : target.display;
  // A dry run reads the state (so its plan is the real one) but never saves it.
  const state = await SyncState.load(stateFileFor(defaultStateDir(), srcName, dstName), srcName, dstName);
  const session = await openRemote(target, { max: parallel, logger });
  const progress = createProgress({ silent: flags.dryRun === true });
  let outcome: MirrorOutcome;
  try {
    outcome = await runMirror({
      direction, localRoot, remoteRoot: target.url.path, pool: session.pool, isRetriable, parallel, state, logger,
      delete: flags.delete ?? false, allowEmptySource: flags.allowEmptySource ?? false,
      ...(maxDelete ? { maxDelete } : {}), names: { source: srcName, destination: dstName }, dryRun: flags.dryRun ?? false, checksum: flags.checksum ?? false,
      followSymlinks: flags.followSymlinks ?? false, progress, warm: (n) => session.warm(n), listingLimits,
      // A server restart mid-run (C4) must not fail every file left: wait up to a minute for it.
      retry: { ...DEFAULT_RETRY, outage: { patienceMs: 60_000 } },
      ...(filter ? { filter } : {}), ...(bucket ? { bucket } : {}),
    });
  } catch (err) {
    throw toCliError(`mirror ${srcName} → ${dstName}`, err);
  } finally {
    progress.stop();
    await session.close();
  }
  report(outcome, { json: flags.json ?? false, dryRun: flags.dryRun ?? false, srcName, dstName, direction, checksum: flags.checksum ?? false });
  // A dry run whose deletions would be refused fails too, so a script trying it first learns it.
  return (outcome.result?.failed.length ?? outcome.plan.conflicts.length + (outcome.deleteRefusal !== undefined ? 1 : 0)) > 0
    ? ExitCode.Failed : ExitCode.Ok;
}

interface ReportContext { json: boolean; dryRun: boolean; srcName: string; dstName: string; direction: string; checksum: boolean }

/** The result: JSON for scripts, or a plan / summary for people, on stdout. */
function report(o: MirrorOutcome, c: ReportContext): void {
  const out = process.stdout;
  const r = o.result;
  const verification: Record<string, number> = {};
  for (const t of r?.transferred ?? []) verification[t.verified] = (verification[t.verified] ?? 0) + 1;
  if (c.json) {
    out.write(`${JSON.stringify({
      ok: (r?.failed.length ?? o.plan.conflicts.length + (o.deleteRefusal !== undefined ? 1 : 0)) === 0, direction: c.direction, source: c.srcName, destination: c.dstName,
      dryRun: c.dryRun,
      ...(c.dryRun ? { plan: o.plan.ops } : {}),
      transferred: r?.transferred.map((t) => ({
        path: t.path, size: t.size, bytes: t.bytes, resumedFrom: t.offset, verified: t.verified, ...(t.sizeFrom ? { sizeFrom: t.sizeFrom } : {}),
        ...(t.restarted ? { restarted: t.restarted } : {}),
        reason: t.reason, attempts: t.attempts, mtimeSet: t.mtimeSet,
      })) ?? [],
      unchanged: o.plan.unchanged.length, skipped: o.skipped, created: r?.created ?? [], deleted: r?.deleted ?? [],
      failed: r?.failed ?? o.plan.conflicts.map((x) => ({ path: x.path, op: "conflict", error: x.reason })),
      ...(r?.deletesSkipped ? { deletesSkipped: r.deletesSkipped } : {}),
      ...(o.deleteRefusal !== undefined ? { deleteRefusal: o.deleteRefusal } : {}),
      ...(o.checksumAvailable === false ? { checksum: "unavailable: the server offers no checksum; compared by size and mtime" } : {}),
      bytes: r?.bytes ?? 0, elapsedMs: r?.elapsedMs ?? 0, verification,
    }, null, 2)}\n`);
    return;
  }
  if (c.dryRun) {
    for (const line of describePlan(o.plan)) out.write(`${line}\n`);
    if (o.deleteRefusal !== undefined) out.write(`the deletions would be refused: ${o.deleteRefusal}\n`);
    out.write("dry run: nothing was changed\n");
    return;
  }
  if (!r) throw new CliError("internal: no result", ExitCode.Failed);
  for (const f of r.failed) out.write(f.path === "" ? `FAILED: ${f.error}\n` : `FAILED ${f.path}: ${f.error}\n`);
  if (isQuiet()) {
    // -q: the failures only (and a refused deletion, which is one).
    if (o.deleteRefusal !== undefined && r.deletesSkipped === o.deleteRefusal) process.stderr.write(`ferry: ${o.deleteRefusal}\n`);
    return;
  }
  for (const t of r.transferred) if (t.restarted) out.write(`restarted ${t.path} from byte 0: ${t.restarted}\n`);
  for (const s of o.skipped) out.write(`skipped ${s.path}: ${s.reason}\n`);
  const rejected = rejectedCount(o.skipped);
  if (rejected > 0) out.write(`${rejected} entries rejected (unsafe names from the server; see "skipped" above)\n`);
  if (r.deletesSkipped && r.deletesSkipped !== o.deleteRefusal) out.write(`${r.deletesSkipped}\n`);
  // The refusal also goes to stderr: it is the error a person running this must see and act on.
  if (o.deleteRefusal !== undefined && r.deletesSkipped === o.deleteRefusal) process.stderr.write(`ferry: ${o.deleteRefusal}\n`);
  if (o.checksumAvailable === false) out.write("--checksum: the server offers no checksum command; files were compared by size and mtime\n");
  const fromListing = r.transferred.filter((t) => t.sizeFrom === "listing").length;
  const verified = Object.entries(verification).map(([k, n]) => `${n} by ${k === "size only" ? "size only (the server offers no checksum)" : k}`).join(", ") +
    (fromListing > 0 ? ` (${fromListing} of the sizes read from one listing per batch of files instead of SIZE per file)` : "");
  const noMtime = r.transferred.filter((t) => !t.mtimeSet).length;
  if (noMtime > 0 && c.direction === "upload") out.write(`${noMtime} files keep the upload time on the server (it cannot set modification times); the sync state remembers them\n`);
  const secs = r.elapsedMs / 1000;
  out.write(`${c.srcName} → ${c.dstName}: ${r.transferred.length} transferred, ${o.plan.unchanged.length} unchanged, ` +
    `${r.deleted.length} deleted, ${r.failed.length} failed; ${formatBytes(r.bytes)} in ${secs.toFixed(1)} s` +
    `${secs > 0 ? ` (${formatBytes(Math.round(r.bytes / secs))}/s)` : ""}` + (verified ? `; verified: ${verified}` : "") + "\n");
}
