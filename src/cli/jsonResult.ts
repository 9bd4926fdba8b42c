import { CommanderError } from "commander";
import { causeChain, FtpReplyError } from "../protocol/index.js";
import { CliError, ExitCode } from "./exitCodes.js";
import { errnoOf } from "./hints.js";
import type { TransferOutcome } from "../sync/index.js";

/**
 * `--json` results: every command that does work prints exactly one JSON document on stdout,
 * success or failure, so a script never has to tell "no output" from "failed".
 */

let jsonCommand: string | undefined;

/** Called before a command runs: remember that it was asked for JSON. */
export function setJsonCommand(name: string | undefined): void {
  jsonCommand = name;
}

/** The command that runs with --json, if any; argv decides when commander refused it before it ran. */
export function jsonCommandOf(argv: readonly string[], command: string | undefined): string | undefined {
  if (jsonCommand !== undefined) return jsonCommand;
  return argv.includes("--json") ? command : undefined;
}

/** The failure document: the message a person sees, the error's class, and the exit code. */
export interface JsonFailure {
  ok: false;
  command: string;
  error: string;
  /** The most specific class in the cause chain (FtpReplyError, FtpConnectionError, UsageError…). */
  errorClass: string;
  exitCode: number;
  /** The FTP reply code, when a server's reply caused it. */
  replyCode?: number;
  /** The system error code (ECONNREFUSED, ENOSPC…), when one caused it. */
  errno?: string;
}

/** The class to report: the first in the chain more specific than our own wrappers and plain Error. */
function errorClassOf(err: unknown): string {
  for (const e of causeChain(err)) {
    if (!(e instanceof Error) || e instanceof CliError) continue;
    if (e.name !== "Error") return e.name;
  }
  return err instanceof Error ? err.name : typeof err;
}

/** The JSON document for an error that ends a command. */
export function failureJson(command: string, err: unknown, exitCode: number): JsonFailure {
  const message = err instanceof CommanderError ? err.message.replace(/^error: /, "") : err instanceof Error ? err.message : String(err);
  let replyCode: number | undefined;
  for (const e of causeChain(err)) if (e instanceof FtpReplyError) { replyCode = e.code; break; }
  const errno = errnoOf(err);
  return {
    ok: false, command, error: message, errorClass: err instanceof CommanderError ? "UsageError" : errorClassOf(err), exitCode,
    ...(replyCode !== undefined ? { replyCode } : {}), ...(errno !== undefined ? { errno } : {}),
  };
}

/** Write one JSON document on stdout. */
export function printJson(doc: unknown): void {
  process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
}

/** The success document of get and put. */
export function transferJson(command: "get" | "put", fields: {
  source: string; destination: string; outcome: TransferOutcome; elapsedMs: number; replaced?: boolean;
}): Record<string, unknown> {
  const o = fields.outcome;
  return {
    ok: true, command, source: fields.source, destination: fields.destination,
    size: o.offset + o.bytes, bytes: o.bytes, ...(o.offset ? { resumedFrom: o.offset } : {}), ...(o.restarted ? { restarted: o.restarted } : {}),
    verified: o.verified, ...(o.hash ? { hash: o.hash } : {}), elapsedMs: Math.round(fields.elapsedMs),
    ...(fields.replaced !== undefined ? { replaced: fields.replaced } : {}),
  };
}

/** The document of a get skipped by --no-clobber. */
export function skippedJson(command: "get", source: string, destination: string, reason: string): Record<string, unknown> {
  return { ok: true, command, source, destination, skipped: true, reason, exitCode: ExitCode.Ok };
}
