import { createHash, type Hash } from "node:crypto";
import { Transform, Writable, type Readable } from "node:stream";
import { NODE_HASH_NAMES, type HashAlgorithm } from "../protocol/index.js";
import { formatBytes, publishRemote, remotePartPath, sameDigest, type SyncPool } from "../sync/index.js";
import { CliError, ExitCode, UsageError } from "./exitCodes.js";
import type { Progress } from "./progress.js";
import { isQuiet } from "./verbosity.js";
import type { RemoteTarget } from "./credentials.js";
import { createLogger } from "../log/index.js";
import { commandLogOptions } from "./reportedWarnings.js";
import { openRemote, toCliError } from "./remoteSession.js";
import { createProgress } from "./progress.js";
import { ensureRemoteParent, namingUserPath } from "./remoteDirs.js";
import { printJson } from "./jsonResult.js";
import { throttle, type TokenBucket } from "../sync/bwlimit.js";

/**
 * "-" as a file name: stdout for `get`, stdin for `put`, as curl (-o -) and lftp's cat do.
 * Neither side can be retried or resumed (the bytes are gone once written or read), and
 * stdout has no temporary file: a reader sees the bytes as they arrive, and a failure after
 * the first byte leaves a truncated stream that the exit code (not the output) reports.
 */
export const STDIO = "-";

/** Help text for the "-" forms. */
export const STDOUT_HELP = `"-" writes to stdout: no temporary file is possible, so a reader sees the bytes as they arrive; ` +
  "check the exit code (non-zero: the output is incomplete or wrong). No retry, no --continue, no --json.";
export const STDIN_HELP = `"-" reads stdin: it goes to the temporary name, is verified by size, then renamed (no retry, no --continue).`;

/** What a "-" transfer did. */
export interface StdioOutcome {
  bytes: number;
  verified: string;
}

/** Refuse the flags that cannot work with "-". */
export function checkStdioFlags(command: "get" | "put", flags: { continue?: boolean; json?: boolean }): void {
  if (flags.continue) throw new UsageError(`${command} -: --continue needs a file to resume; ${command === "get" ? "stdout" : "stdin"} cannot be resumed`);
  if (command === "get" && flags.json) throw new UsageError("get URL - --json: both want stdout; drop one");
}

/** A stream to stdout that honours its backpressure, hashing and counting what passes. */
function stdoutSink(hash: Hash | undefined, progress: Progress, counter: { bytes: number }, bucket?: TokenBucket): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, done) {
      // --bwlimit: the chunk waits for its allowance; the data connection's backpressure does the rest.
      if (bucket) void bucket.take(chunk.length).then(() => pass(chunk, done));
      else pass(chunk, done);
    },
  });
  function pass(chunk: Buffer, done: () => void): void {
    hash?.update(chunk);
    counter.bytes += chunk.length;
    progress.bytes?.(chunk.length);
    if (process.stdout.write(chunk)) done();
    else process.stdout.once("drain", () => done());
  }
}

/**
 * Download `path` to stdout. The checksum is asked for first (when the server can hash) and
 * computed as the bytes pass; the size is checked against SIZE.
 */
export async function getToStdout(pool: SyncPool, path: string, size: number, progress: Progress, bucket?: TokenBucket): Promise<StdioOutcome> {
  return pool.use(async (c) => {
    const algorithms = [...c.features.hash, ...c.features.legacyHash].filter((a): a is Exclude<HashAlgorithm, "CRC32"> => a !== "CRC32");
    const expected = algorithms.length > 0 ? await c.hash(path, { algorithms }).catch(() => undefined) : undefined;
    const hash = expected && expected.algorithm !== "CRC32" ? createHash(NODE_HASH_NAMES[expected.algorithm]) : undefined;
    const counter = { bytes: 0 };
    await c.download(path, stdoutSink(hash, progress, counter, bucket));
    if (counter.bytes !== size) {
      throw new CliError(`received ${counter.bytes} bytes where the server said ${size}: the output on stdout is incomplete`, ExitCode.Failed);
    }
    if (hash && expected) {
      const got = hash.digest("hex");
      if (!sameDigest(got, expected.value)) {
        throw new CliError(`the bytes written to stdout do not match the server's ${expected.algorithm} (${expected.value}, got ${got}): discard them`, ExitCode.Failed);
      }
      return { bytes: counter.bytes, verified: expected.algorithm };
    }
    return { bytes: counter.bytes, verified: "size only" };
  });
}

/** Upload stdin to `remotePath`: into the temporary name, size checked against what was read, then renamed into place. */
export async function putFromStdin(pool: SyncPool, remotePath: string, input: Readable, progress: Progress, bucket?: TokenBucket): Promise<StdioOutcome> {
  const part = remotePartPath(remotePath);
  let read = 0;
  // Counted as the upload pulls: a "data" listener would start the flow before the data connection is open.
  const counted = input.pipe(new Transform({
    transform(chunk: Buffer, _enc, done) { read += chunk.length; progress.bytes?.(chunk.length); done(null, chunk); },
  }));
  const source = bucket ? counted.pipe(throttle(bucket)) : counted;
  return pool.use(async (c) => {
    const sent = await c.upload(source, part);
    const stored = await c.size(part);
    if (stored !== read || sent !== read) {
      await c.remove(part).catch(() => undefined);
      throw new CliError(`the server holds ${stored} bytes of the ${read} read from stdin: not published under ${remotePath}`, ExitCode.Failed);
    }
    await publishRemote(c, part, remotePath);
    return { bytes: read, verified: "size only" };
  });
}

/** The summary of a "-" transfer, on stderr when the data went to stdout. */
export function printStdioOutcome(verb: string, what: string, o: StdioOutcome, ms: number, stream: NodeJS.WritableStream): void {
  if (isQuiet()) return;
  stream.write(`${verb} ${what}: ${formatBytes(o.bytes)} in ${(ms / 1000).toFixed(1)} s, verified by ${o.verified}\n`);
}

/** `ferry get URL -`: the whole command once the URL is resolved. */
export async function getCommandToStdout(target: RemoteTarget, flags: { continue?: boolean; json?: boolean }, bucket?: TokenBucket): Promise<void> {
  checkStdioFlags("get", flags);
  const logger = createLogger(commandLogOptions());
  const session = await openRemote(target, { max: 1, logger });
  const progress = createProgress();
  const started = performance.now();
  let outcome: StdioOutcome;
  try {
    const remote = await session.pool.use((c) => c.stat(target.url.path));
    if (!remote) throw new CliError(`get ${target.display}: no such file on the server`, ExitCode.Failed);
    if (remote.type !== "file") throw new CliError(`get ${target.display}: it is a ${remote.type === "dir" ? "folder: use ferry mirror" : remote.type}`, ExitCode.Failed);
    const size = remote.size ?? (await session.pool.use((c) => c.size(target.url.path)));
    progress.start(1, size);
    outcome = await getToStdout(session.pool, target.url.path, size, progress, bucket);
  } catch (err) {
    throw toCliError(`get ${target.display} → stdout`, err);
  } finally {
    progress.stop();
    await session.close();
  }
  printStdioOutcome("downloaded", `${target.display} → stdout`, outcome, performance.now() - started, process.stderr);
}

/** `ferry put - URL`: the whole command once the URL is resolved. */
export async function putCommandFromStdin(target: RemoteTarget, url: string, flags: { continue?: boolean; json?: boolean }, bucket?: TokenBucket): Promise<void> {
  checkStdioFlags("put", flags);
  const remotePath = target.url.path;
  if (url.endsWith("/") || remotePath === "." || remotePath === "/") {
    throw new UsageError(`put - ${target.display}: stdin has no name: end the URL with the file's name`);
  }
  const logger = createLogger(commandLogOptions());
  const session = await openRemote(target, { max: 1, logger });
  const progress = createProgress();
  const started = performance.now();
  let outcome: StdioOutcome;
  try {
    await ensureRemoteParent(session.pool, remotePath);
    progress.start(1, 0);
    outcome = await putFromStdin(session.pool, remotePath, process.stdin, progress, bucket);
  } catch (err) {
    throw toCliError(`put stdin → ${target.display}`, namingUserPath(err, remotePath));
  } finally {
    progress.stop();
    await session.close();
  }
  const elapsedMs = performance.now() - started;
  if (flags.json) {
    printJson({ ok: true, command: "put", source: "stdin", destination: target.display, size: outcome.bytes, bytes: outcome.bytes, verified: outcome.verified, elapsedMs: Math.round(elapsedMs) });
  } else printStdioOutcome("uploaded", `stdin → ${target.display}`, outcome, elapsedMs, process.stdout);
}
