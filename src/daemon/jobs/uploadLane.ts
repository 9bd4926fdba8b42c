import { posix } from "node:path";
import { isConnectionLost, type FtpClient } from "../../client/index.js";
import type { Logger } from "../../log/index.js";
import { FtpReplyError, HASH_ALGORITHMS, type HashAlgorithm } from "../../protocol/index.js";
import {
  canHash, hashLocalFile, NotListedError, publishRemote, readSmallFile, rememberUploadSource, remotePartPath, sameDigest,
  type SyncPipeline, type SyncPipelinedData, type TransferOp, type TransferOutcome,
} from "../../sync/index.js";
import { PublishRefused, verifyThenPublish } from "../../sync/pipelinedUploads.js";
import type { RemoteRegistry } from "../remotes.js";

// The daemon's outbox as a stream (issue 13). One job per outbox file stays the unit of the
// queue (its own row, attempts, retries, after-action), but the files of the jobs running for
// one remote go out through a lane: a few streams, each holding one pooled connection and
// feeding the files that wait into that connection's pipeline. Per file, once its passive
// reply is in, STOR, SIZE and HASH leave in one write together with the next waiting file's
// passive request; the next STOR leaves with this file's publish commands. About one or two
// round trips per file instead of five.
//
// The safety contract is the pipelined lane's (sync/pipelinedUploads.ts): each file goes to
// its temporary name and is published only by the continuation that has its 226, size and
// checksum in hand and found them right. Each job awaits its own file's outcome; a file that
// fails settles only its own job. A connection that breaks fails the files in flight on it
// with what RemoteRegistry.use makes of the break (RetryLaterError: the remote backs off, no
// attempt is used); the files not yet sent wait for the next stream.

/**
 * Files one stream sends before it hands its connection back to the pool, so that a mirror
 * job waiting for one of the remote's connections gets its turn while the outbox is busy.
 */
export const FILES_PER_TURN = 32;

/** After a server was found not to take pipelined uploads, the lane sends files the lockstep way for this long before it asks again. */
const LOCKSTEP_RECHECK_MS = 60_000;

/** One outbox file for the lane. */
export interface LaneFile {
  readonly localPath: string;
  readonly remotePath: string;
  /** Its size when the job found it stable; a file that no longer has it fails with a VerifyError. */
  readonly size: number;
  /** Whether the final name may already hold it (a retry, a kept file found again): checked first where the server has checksums. */
  readonly mayBeThere: boolean;
  /** The job's: aborting it gives the file up (if it is still waiting, it is never sent). */
  readonly signal: AbortSignal;
  /** Its bytes are about to be sent. */
  readonly onStart?: () => void;
  readonly onBytes?: (n: number) => void;
}

/** What became of a file: sent and published, found already there, or to be sent the lockstep way (transferFile) by its job. */
export type LaneResult =
  | { readonly kind: "sent"; readonly outcome: TransferOutcome }
  | { readonly kind: "present"; readonly verified: HashAlgorithm }
  | { readonly kind: "lockstep" };

const LOCKSTEP: LaneResult = { kind: "lockstep" };

/** A file waiting for, or taken by, a stream. */
interface Waiting {
  readonly file: LaneFile;
  readonly dir: string;
  /** Settles the job's promise; undefined once settled (or given up by the job). */
  settle: ((result: LaneResult | Error) => void) | undefined;
  /** The final name's size, asked ahead in the pipeline (mayBeThere, on a server with checksums). */
  there?: Promise<number | undefined>;
}

/** What the lane needs of the remotes. */
export type LaneRemotes = Pick<RemoteRegistry, "use" | "ensureDir" | "knowsDir" | "endpoint">;

/** The upload lane of one remote (see the comment at the top). */
export class UploadLane {
  readonly #remotes: LaneRemotes;
  readonly #remote: string;
  readonly #log: Logger;
  readonly #now: () => number;
  /** Files waiting for a stream, oldest first. */
  readonly #queue: Waiting[] = [];
  /** Streams waiting for a file to arrive: each looks at the queue when one does. */
  readonly #looking = new Set<() => void>();
  #streams = 0;
  /** Streams that would take a file now (starting, or waiting for the next one): no new stream is needed for that many. */
  #hungry = 0;
  /** When a stream last found the server driven in lockstep. */
  #lockstepAt: number | undefined;

  constructor(options: { remotes: LaneRemotes; remote: string; logger: Logger; now?: () => number }) {
    this.#remotes = options.remotes;
    this.#remote = options.remote;
    this.#log = options.logger.child({ remote: options.remote, lane: "outbox" });
    this.#now = options.now ?? Date.now;
  }

  /** Files waiting for a stream (for tests and the log). */
  get waiting(): number {
    return this.#queue.length;
  }

  /**
   * Send one file through the lane: resolves once it is published (or found there, or handed
   * back for the lockstep path); rejects with its own failure, or with the signal's reason as
   * soon as the signal aborts.
   */
  upload(file: LaneFile): Promise<LaneResult> {
    if (file.signal.aborted) return Promise.reject(abortReason(file.signal));
    if (this.#lockstepAt !== undefined && this.#now() - this.#lockstepAt < LOCKSTEP_RECHECK_MS) return Promise.resolve(LOCKSTEP);
    return new Promise<LaneResult>((resolve, reject) => {
      const onAbort = (): void => {
        const i = this.#queue.indexOf(w);
        if (i >= 0) this.#queue.splice(i, 1);
        w.settle?.(abortReason(file.signal));
      };
      const w: Waiting = {
        file, dir: posix.dirname(file.remotePath),
        settle: (result) => {
          w.settle = undefined;
          file.signal.removeEventListener("abort", onAbort);
          if (result instanceof Error) reject(result);
          else resolve(result);
        },
      };
      file.signal.addEventListener("abort", onAbort, { once: true });
      this.#queue.push(w);
      for (const look of [...this.#looking]) look();
      this.#spawn();
    });
  }

  /** Start streams while files wait that no stream would take, up to the remote's connections. */
  #spawn(): void {
    const cap = this.#remotes.endpoint(this.#remote).connections;
    while (this.#streams < cap && this.#queue.length > this.#hungry) void this.#stream();
  }

  /**
   * One connection's share of the lane: takes waiting files until none is left or its turn
   * (FILES_PER_TURN) is over, in pipelined segments with the folders a file needs made in
   * lockstep between them. Never rejects: every file it took is settled.
   */
  async #stream(): Promise<void> {
    this.#streams++;
    this.#hungry++;
    let hungry = true;
    const fed = (): void => {
      if (hungry) this.#hungry--;
      hungry = false;
    };
    /** Files in flight when the connection broke: they get what RemoteRegistry.use makes of the break. */
    const broken: Waiting[] = [];
    /** A file taken and not started, when the stream stops early. */
    let carried: Waiting | undefined;
    let sentAny = false;
    try {
      await this.#remotes.use(this.#remote, async (client) => {
        let turn = 0;
        let cur = this.#queue.shift();
        fed();
        while (cur) {
          if (!this.#remotes.knowsDir(this.#remote, cur.dir)) {
            try {
              await this.#remotes.ensureDir(this.#remote, client, cur.dir);
            } catch (err) {
              if (isConnectionLost(err)) {
                carried = cur;
                throw err;
              }
              cur.settle?.(asError(err));
              cur = turn < FILES_PER_TURN ? this.#queue.shift() : undefined;
              continue;
            }
          }
          const p = client.features.size === false ? undefined : await this.#pipeline(client, cur, (w) => (carried = w));
          if (!p) {
            this.#toLockstep([cur], "the server is driven in lockstep");
            return;
          }
          const seg = await this.#segment(client, p, cur, FILES_PER_TURN - turn, broken);
          turn += seg.started;
          sentAny ||= seg.started > 0;
          if (seg.lost !== undefined) {
            carried = seg.carried;
            throw seg.lost;
          }
          cur = turn < FILES_PER_TURN ? this.#queue.shift() : undefined;
        }
      });
    } catch (err) {
      const e = asError(err);
      for (const w of broken) w.settle?.(e);
      if (carried) {
        // Never sent: another stream takes it, unless this stream sent nothing at all (then
        // the remote or its connections are the trouble: every file waiting gets the error).
        if (sentAny) this.#queue.unshift(carried);
        else carried.settle?.(e);
      }
      if (!sentAny) for (const w of this.#queue.splice(0)) w.settle?.(e);
      this.#log.debug({ err: e.message }, "outbox stream ended on an error");
    } finally {
      fed();
      this.#streams--;
      this.#spawn();
    }
  }

  /** The connection as a pipeline, or undefined when the server is driven in lockstep; `cur` is carried when the probe breaks the connection. */
  async #pipeline(client: FtpClient, cur: Waiting, carry: (w: Waiting) => void): Promise<SyncPipeline | undefined> {
    try {
      return await client.pipeline("the outbox");
    } catch (err) {
      carry(cur);
      throw err;
    }
  }

  /** Hand these files and every waiting one to their jobs for the lockstep path, and send the next ones that way for a while. */
  #toLockstep(taken: readonly Waiting[], why: string): void {
    if (this.#lockstepAt === undefined || this.#now() - this.#lockstepAt >= LOCKSTEP_RECHECK_MS) this.#log.info({ why }, "outbox files go one at a time (lockstep) for now");
    this.#lockstepAt = this.#now();
    for (const w of [...taken, ...this.#queue.splice(0)]) w.settle?.(LOCKSTEP);
  }

  /**
   * One pipelined run on a connection, starting with `first`: files are taken while they wait
   * (and arrive while the last one is being sent), up to `room`, and as long as their folder
   * is known to exist. Returns how many were started, and, when the connection broke, the
   * error and the file taken but not started.
   */
  async #segment(client: FtpClient, p: SyncPipeline, first: Waiting, room: number, broken: Waiting[]):
    Promise<{ started: number; lost?: unknown; carried?: Waiting }> {
    const hashing = canHash(client.features);
    const pending: Promise<unknown>[] = [];
    const refused: { w: Waiting; r: PublishRefused }[] = [];
    let lost: unknown;
    let started = 0;
    let data: SyncPipelinedData | undefined;
    const fail = (w: Waiting, err: unknown): void => {
      if (isConnectionLost(err)) {
        lost ??= err;
        broken.push(w);
      } else w.settle?.(asError(err));
    };
    /** The next file for this pipeline, if one waits whose folder exists. */
    const next = (): Waiting | undefined => {
      const w = this.#queue[0];
      if (!w || lost !== undefined || started >= room || !this.#remotes.knowsDir(this.#remote, w.dir)) return undefined;
      return this.#queue.shift();
    };
    /** Ask ahead for what `w` needs: the final name's size when it may be there, and a passive connection. */
    const ahead = (w: Waiting): void => {
      if (hashing && w.file.mayBeThere) {
        w.there = p.size(w.file.remotePath).catch((err: unknown) => {
          if (err instanceof FtpReplyError) return undefined; // not there (550), or no answer: send it
          throw err;
        });
        pending.push(w.there.catch(() => undefined));
      }
      data ??= p.passive();
    };
    let cur: Waiting | undefined = first;
    ahead(first);
    try {
      while (cur !== undefined && lost === undefined) {
        const w: Waiting = cur;
        cur = undefined;
        const take = (): void => {
          cur = next();
          if (cur) ahead(cur);
        };
        if (!w.settle) { // given up by its job while it waited
          take();
          continue;
        }
        if (w.there) {
          let verified: HashAlgorithm | undefined;
          try {
            verified = await this.#alreadyThere(p, w);
          } catch (err) {
            fail(w, err);
            take();
            continue;
          }
          if (verified) {
            w.settle?.({ kind: "present", verified });
            take(); // its passive connection serves the next file
            continue;
          }
        }
        let bytes: Buffer;
        try {
          bytes = readSmallFile(w.file.localPath, w.file.size, (st) => rememberUploadSource(w.file, st));
        } catch (err) {
          fail(w, err);
          take();
          continue;
        }
        const conn = data!;
        data = undefined;
        try {
          await conn.ready;
        } catch (err) {
          fail(w, err);
          take();
          continue;
        }
        started++;
        w.file.onStart?.();
        const target = w.file.remotePath;
        const part = remotePartPath(target);
        const op: TransferOp = { kind: "upload", path: target, size: w.file.size, reason: "new" };
        // One write: this file's STOR and checks, and what the next waiting file needs.
        const stored = p.store(part, bytes, conn, w.file.signal);
        const size = p.size(part);
        const hash = hashing ? p.hash(part, HASH_ALGORITHMS) : Promise.resolve(undefined);
        take();
        pending.push(verifyThenPublish(p, op, bytes, part, target, stored, size, hash, { ...(w.file.onBytes ? { onBytes: w.file.onBytes } : {}) }).then(
          (r) => {
            if (r instanceof PublishRefused) refused.push({ w, r });
            else w.settle?.({ kind: "sent", outcome: r });
          },
          (err: unknown) => {
            // A server that offers SIZE but refuses it: the lockstep path verifies by a listing.
            if (err instanceof NotListedError) this.#toLockstep([w], err.message);
            else fail(w, err);
          }));
        // A file that arrives while this one is sent still leaves before its 226 is in.
        if (cur === undefined) {
          cur = await this.#arrivalDuring(stored, next);
          if (cur) ahead(cur);
        }
        // The server runs one transfer at a time: the next STOR goes once this one has ended.
        await stored.then(() => undefined, () => undefined);
      }
    } catch (err) {
      lost ??= err;
    } finally {
      await data?.close();
      await Promise.all(pending);
      p.release();
    }
    // Verified files whose rename the server refused: published the lockstep way (servers that will not rename over a file).
    for (const { w, r } of refused) {
      try {
        w.settle?.({ kind: "sent", outcome: { ...r.outcome, mtimeSet: await publishRemote(client, r.part, r.target, r.mtime) } });
      } catch (err) {
        fail(w, err);
      }
    }
    if (cur !== undefined) (cur as Waiting).there = undefined; // its early question went with the connection
    return lost === undefined ? { started } : { started, lost, ...(cur !== undefined ? { carried: cur } : {}) };
  }

  /** The hash algorithm by which the final name already holds exactly this file, or undefined. */
  async #alreadyThere(p: SyncPipeline, w: Waiting): Promise<HashAlgorithm | undefined> {
    if ((await w.there) !== w.file.size) return undefined;
    const remote = await p.hash(w.file.remotePath, HASH_ALGORITHMS);
    if (!remote) return undefined;
    return sameDigest(await hashLocalFile(w.file.localPath, remote.algorithm), remote.value) ? remote.algorithm : undefined;
  }

  /** A file taken as soon as one waits (`take`), or undefined once `until` settled first. */
  #arrivalDuring(until: Promise<unknown>, take: () => Waiting | undefined): Promise<Waiting | undefined> {
    return new Promise((resolve) => {
      let over = false;
      let finished = false;
      const look = (): void => {
        if (finished) return;
        const w = take();
        if (!w && !over) return;
        finished = true;
        this.#looking.delete(look);
        this.#hungry--;
        resolve(w);
      };
      this.#hungry++;
      this.#looking.add(look);
      void until.then(() => undefined, () => undefined).then(() => {
        over = true;
        look();
      });
      look();
    });
  }
}

function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new DOMException("the upload was given up", "AbortError");
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
