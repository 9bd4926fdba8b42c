import { once } from "node:events";
import { createWriteStream } from "node:fs";
import { open } from "node:fs/promises";
import { isIPv6 } from "node:net";
import { Writable, type Readable } from "node:stream";
import type { Logger } from "../log/index.js";
import {
  FtpReplyError, HASH_ALGORITHMS, LISTING_DEFAULTS, LIST_FORMATS, ListingParser, ProtocolError, formatTimeVal, mlsxFormat,
  type HashAlgorithm, type RejectedLine, type Reply,
} from "../protocol/index.js";
import { replyMessage, type ControlChannel } from "./ControlChannel.js";
import { ControlLister } from "./controlListing.js";
import { BulkReceiver, openActive, openPassive, type DataConnection, type PassiveCommand, type Receiver } from "./dataChannel.js";
import { FileReceiver } from "./fileReceiver.js";
import { FtpConnectionError, FtpUsageError, PipelineBrokenError, abortError, isNotUnderstood } from "./errors.js";
import { FtpPipeline, timeSetter, timeWasSet } from "./pipeline.js";
import { decidePipelining, pipelineVerdict, switchToLockstep } from "./pipelineDecision.js";
import type { Capabilities } from "./features.js";
import { hashOf, isReplyError, modifiedTimeOf, setModifiedTimeOf, sizeOf, statPath, type Queries } from "./queries.js";
import { openSession, type ConnectOptions } from "./session.js";
import { wrapDataTls, type TlsState } from "./tls.js";
import { TransferResolver } from "./transfer.js";

export type { ConnectOptions } from "./session.js";

/** The kind of a remote entry. */
export type EntryType = "file" | "dir" | "symlink" | "other";

/** One remote file or directory. */
export interface RemoteEntry {
  name: string;
  type: EntryType;
  size?: number;
  /** Only from MLSD/MLST/MDTM (precise, UTC): trustworthy for sync decisions. */
  modifiedAt?: Date;
  /** LIST date text as the server sent it; never drives sync decisions. */
  rawModifiedAt?: string;
  /** Symlink target from LIST "a -> b". */
  target?: string;
  facts?: Readonly<Record<string, string>>;
}

/** Options of a transfer. */
export interface TransferOptions {
  /** Cancels the transfer: ABOR is sent and the connection stays usable. */
  signal?: AbortSignal;
  /** Called with the bytes moved so far, at most every 200 ms and once at the end. */
  onProgress?: (bytes: number) => void;
}

/** Options of FtpClient.list. */
export interface ListOptions {
  signal?: AbortSignal;
  /** Most entries (refused lines included) one listing may have; default LISTING_DEFAULTS.maxDirEntries. */
  maxEntries?: number;
  /** Receives each entry as it arrives; list() then resolves with [] and keeps nothing (ferry ls). */
  onEntry?: (entry: RemoteEntry) => void;
  /** Receives each refused line (unsafe name, unparsable line), after it is logged. */
  onRejected?: (rejected: RejectedLine) => void;
  /**
   * Awaited after each chunk of the listing has been handed out: where `onEntry` writes to a
   * slower stream (a pipe), return its 'drain' here and the data connection waits - backpressure
   * instead of output piling up in memory.
   */
  afterChunk?: () => Promise<void> | undefined;
  /**
   * List over the control connection (STAT) where that is the server's best listing
   * (controlListing.ts); default false. Ignored with `onEntry`/`afterChunk`. Such a listing is
   * held whole and capped at LISTING_DEFAULTS.maxControlListingBytes: a larger one ends the
   * connection with a ListingLimitError "controlBytes" - list that folder again without this.
   */
  preferControl?: boolean;
}

/** Refused listing lines logged one by one per listing; the rest are counted. */
const MAX_REFUSALS_LOGGED = 20;

type ListCommand = "MLSD" | "LIST -a" | "LIST";
const LIST_CANDIDATES_MLSD: readonly ListCommand[] = ["MLSD", "LIST -a", "LIST"];
const LIST_CANDIDATES: readonly ListCommand[] = ["LIST -a", "LIST"];

/** How long a command queued behind another may go unanswered before the server counts as dropping it. */
const DEFAULT_PIPELINE_STALL_MS = 5000;

function checkOffset(offset: number | undefined): number {
  const value = offset ?? 0;
  if (!Number.isSafeInteger(value) || value < 0) throw new FtpUsageError(`offset must be a whole number >= 0, not ${offset}`);
  return value;
}

/** How long quit() waits for the server to end the session after its 221 (a server that keeps it open is closed then). */
const QUIT_CLOSE_WAIT_MS = 1000;

/**
 * An FTP client on one control connection. Commands run one at a time (use a ClientPool for
 * concurrency). Reply errors (FtpReplyError) leave it usable; transport errors close it.
 * Relative paths are relative to the login directory.
 */
export class FtpClient {
  /** What the server offers, from FEAT. */
  readonly features: Capabilities;
  // parameters
  readonly #control: ControlChannel;
  readonly #logger: Logger;
  readonly #dataTimeoutMs: number;
  readonly #passiveMode: boolean;
  readonly #maxListingBytes: number;
  readonly #tls: TlsState | undefined;
  // internal state: the strategies that worked, kept for the session (STYLE guideline 4)
  #passive: PassiveCommand | undefined;
  #active: "EPRT" | "PORT" | undefined;
  #listCommand: ListCommand | undefined;
  #hashSelected: HashAlgorithm | undefined;
  readonly #controlLister: ControlLister;
  /** host:port, the key of the per-server pipelining verdict. */
  readonly #server: string;
  readonly #pipelining: boolean;
  readonly #pipelineStallMs: number;

  private constructor(control: ControlChannel, features: Capabilities, options: ConnectOptions, logger: Logger, tls: TlsState | undefined) {
    this.#tls = tls;
    this.#control = control;
    this.features = features;
    this.#logger = logger;
    this.#dataTimeoutMs = options.dataTimeoutMs ?? 30_000;
    this.#passiveMode = options.passive ?? true;
    this.#maxListingBytes = options.maxListingBytes ?? LISTING_DEFAULTS.maxListingBytes;
    this.#hashSelected = features.hashSelected;
    this.#controlLister = new ControlLister(control, features, { logger, deadlineMs: this.#dataTimeoutMs });
    const port = options.port ?? (options.secure === "implicit" ? 990 : 21);
    this.#server = isIPv6(options.host) ? `[${options.host}]:${port}` : `${options.host}:${port}`;
    this.#pipelining = options.pipelining ?? true;
    this.#pipelineStallMs = options.pipelineStallMs ?? DEFAULT_PIPELINE_STALL_MS;
  }

  /** Connect (TLS when asked), read the greeting, log in, discover features (FEAT) and switch to binary (TYPE I). */
  static async connect(options: ConnectOptions): Promise<FtpClient> {
    const session = await openSession(options);
    const client = new FtpClient(session.control, session.features, options, session.logger, session.tls);
    session.logger.debug({ features: [...session.features.raw.keys()], secure: options.secure ?? "none" }, "ftp connected");
    return client;
  }

  /** True once the connection is closed. */
  get closed(): boolean {
    return this.#control.closed;
  }

  /**
   * List a directory (default: the current one) with MLSD when offered, else LIST; with
   * `preferControl`, over the control connection (STAT) where that is the server's best. The
   * listing is parsed as it arrives (never held as text); unsafe names are refused, logged
   * and passed to `onRejected`; caps on entries and bytes end it with a ListingLimitError
   * (FAULTS B8). With `onEntry`, entries are handed over one by one and none is kept.
   */
  async list(path?: string, options: ListOptions = {}): Promise<RemoteEntry[]> {
    if (!options.preferControl || options.onEntry || options.afterChunk) return this.#listOverData(path, options);
    const { signal, onRejected } = options;
    return this.#controlLister.list(path, {
      maxEntries: options.maxEntries ?? LISTING_DEFAULTS.maxDirEntries, ...(signal ? { signal } : {}), ...(onRejected ? { onRejected } : {}),
    }, () => this.#listOverData(path, options));
  }

  /** How this connection lists with `preferControl`: "STAT -M", "STAT -a", or undefined (MLSD/LIST). */
  get controlListing(): string | undefined {
    return this.#controlLister.form;
  }

  async #listOverData(path: string | undefined, options: ListOptions): Promise<RemoteEntry[]> {
    const candidates = this.#listCommand ? [this.#listCommand] : this.features.mlst ? LIST_CANDIDATES_MLSD : LIST_CANDIDATES;
    let firstError: unknown;
    for (const command of candidates) {
      const [verb, flag] = command.split(" ") as [string, string | undefined];
      const arg = [flag, path].filter((p) => p !== undefined && p !== "").join(" ");
      const entries: RemoteEntry[] = [];
      let refused = 0;
      const parser = new ListingParser({
        candidates: LIST_FORMATS, ...(verb === "MLSD" ? { format: mlsxFormat } : {}),
        maxEntries: options.maxEntries ?? LISTING_DEFAULTS.maxDirEntries, maxBytes: this.#maxListingBytes,
        what: `the ${verb} listing of ${path === undefined || path === "" || path === "." ? "the login folder" : path}`,
        onEntry: options.onEntry ?? ((e) => void entries.push(e)),
        onRejected: (r) => {
          // A hostile listing may refuse a million lines: log the first few, count the rest.
          if (++refused <= MAX_REFUSALS_LOGGED) this.#logger.warn({ line: r.line, reason: r.reason }, "ftp listing entry refused");
          options.onRejected?.(r);
        },
      });
      try {
        await this.#retrieveListing(verb, arg, parser, options.signal, options.afterChunk);
      } catch (err) {
        if (this.#listCommand || !isReplyError(err)) throw err;
        if (!isNotUnderstood(err)) {
          // The server understood the command and answered about the path (550: no such
          // folder): that is the answer, and the command stays the strategy. Falling back
          // would be wrong, not just slow: pure-ftpd answers LIST of a missing folder with an
          // empty listing, and LIST -a of a path with spaces with nothing.
          this.#listCommand = command;
          throw err;
        }
        firstError ??= err; // not understood / not implemented: try the next command
        continue;
      }
      this.#listCommand = command;
      if (refused > MAX_REFUSALS_LOGGED) this.#logger.warn({ refused, path }, "ftp listing: more entries refused than logged");
      return entries;
    }
    throw firstError;
  }

  /** Facts about one path (MLST, else SIZE+MDTM, else the parent's listing); undefined when it does not exist. */
  stat(path: string): Promise<RemoteEntry | undefined> {
    return statPath(this.#queries(), path);
  }

  /** The size of a file in bytes (SIZE, RFC 3659 section 4). */
  size(path: string): Promise<number> {
    return sizeOf(this.#queries(), path);
  }

  /** A file's modification time (MDTM, RFC 3659 section 3), UTC. */
  modifiedTime(path: string): Promise<Date> {
    return modifiedTimeOf(this.#queries(), path);
  }

  /**
   * Set a file's modification time: MFMT when offered, else the two-argument MDTM that
   * vsftpd and others accept. Whole seconds are sent: many servers reject fractions.
   * Resolves false when the server cannot.
   */
  setModifiedTime(path: string, date: Date): Promise<boolean> {
    return setModifiedTimeOf(this.#queries(), path, date);
  }

  /**
   * A file's checksum computed by the server: HASH (with OPTS HASH to pick the algorithm),
   * else XSHA256/XSHA1/XMD5/XCRC, in `algorithms` order (default SHA-256, SHA-1, MD5,
   * CRC32). Undefined when the server offers none of them.
   */
  async hash(path: string, options: { algorithms?: HashAlgorithm[] } = {}): Promise<{ algorithm: HashAlgorithm; value: string } | undefined> {
    const state = { selected: this.#hashSelected };
    try {
      return await hashOf(this.#queries(), path, options.algorithms ?? [...HASH_ALGORITHMS], state);
    } finally {
      this.#hashSelected = state.selected;
    }
  }

  #queries(): Queries {
    return {
      request: (verb, arg) => this.#control.request(verb, arg),
      features: this.features,
      list: (dir) => this.list(dir),
      logger: this.#logger,
    };
  }

  /** Download a file into `destination` (not ended), from `offset` with REST; resolves with the bytes received. */
  async download(path: string, destination: Writable, options: TransferOptions & { offset?: number } = {}): Promise<number> {
    const offset = checkOffset(options.offset);
    const data = await this.#openData(options.signal, () => new BulkReceiver());
    return this.#retrieve(path, data, destination, offset, options);
  }

  /** REST to `offset` before a transfer (nothing at 0); a refusal closes the opened data connection. */
  async #restartAt(offset: number, data: DataConnection): Promise<void> {
    if (offset === 0) return;
    try {
      await this.#control.request("REST", String(offset));
    } catch (err) {
      data.close();
      throw err;
    }
  }

  async #retrieve(path: string, data: DataConnection, destination: Writable | undefined, offset: number, options: TransferOptions): Promise<number> {
    await this.#restartAt(offset, data);
    return new TransferResolver(this.#control, {
      verb: "RETR", arg: path, direction: "download", destination, data, dataTimeoutMs: this.#dataTimeoutMs,
      signal: options.signal, onProgress: options.onProgress, logger: this.#logger,
    }).run();
  }

  /**
   * Upload `source` to `path`: STOR, APPE (mode "append"), or REST+STOR at `offset` to
   * resume (the source must then start at that offset). Resolves with the bytes sent.
   */
  async upload(source: Readable, path: string, options: TransferOptions & { mode?: "store" | "append"; offset?: number } = {}): Promise<number> {
    const offset = checkOffset(options.offset);
    if (offset > 0 && options.mode === "append") throw new FtpUsageError("upload: offset and mode \"append\" exclude each other");
    // The source may fail while the data connection is being set up, before the transfer
    // listens to it: an 'error' event nobody hears would take the whole process down.
    let early: Error | undefined;
    const onEarly = (err: Error): void => void (early ??= err);
    source.on("error", onEarly);
    try {
      const data = await this.#openData(options.signal);
      try {
        await this.#restartAt(offset, data);
        if (early) throw early; // nothing was sent: no STOR, nothing to abort
      } catch (err) {
        data.close();
        throw err;
      }
      return await new TransferResolver(this.#control, {
        verb: options.mode === "append" ? "APPE" : "STOR", arg: path, direction: "upload", source, data,
        dataTimeoutMs: this.#dataTimeoutMs, signal: options.signal, onProgress: options.onProgress, logger: this.#logger,
      }).run();
    } finally {
      source.off("error", onEarly);
    }
  }

  /**
   * Upload bytes held in memory to `path` (STOR): the cheapest way to send a small file, with
   * one write and no stream. Resolves with the bytes sent.
   */
  async uploadBuffer(data: Buffer, path: string, options: TransferOptions = {}): Promise<number> {
    const transfer = await this.#openData(options.signal);
    return new TransferResolver(this.#control, {
      verb: "STOR", arg: path, direction: "upload", sourceBuffer: data, data: transfer,
      dataTimeoutMs: this.#dataTimeoutMs, signal: options.signal, onProgress: options.onProgress, logger: this.#logger,
    }).run();
  }

  /**
   * Download to a local file, from `offset` (REST) into the same position of the file (which
   * must then exist); resolves once the bytes are written. Reads in large chunks into reused
   * buffers, so memory stays flat.
   */
  async downloadFile(path: string, localPath: string, options: TransferOptions & { offset?: number } = {}): Promise<number> {
    const offset = checkOffset(options.offset);
    const handle = await open(localPath, offset > 0 ? "r+" : "w");
    const receiver = new FileReceiver(handle, offset);
    let data: DataConnection;
    try {
      data = await this.#openData(options.signal, () => receiver, receiver);
      if (data.receiver) {
        // Passive (plain or TLS): the socket's bytes go straight into the file's buffers.
        try {
          return await this.#retrieve(path, data, undefined, offset, options);
        } finally {
          await receiver.finish();
        }
      }
    } finally {
      receiver.close();
      await handle.close();
    }
    // Active mode: the socket is accepted, not connected, so no receiver; a WriteStream.
    const file = createWriteStream(localPath, { flags: "r+", start: offset, highWaterMark: 1024 * 1024 });
    await once(file, "open");
    try {
      return await this.#retrieve(path, data, file, offset, options);
    } finally {
      // end()'s callback runs on 'finish' (everything written) or on an error.
      await new Promise<void>((resolve) => file.end(() => resolve()));
    }
  }

  /**
   * Upload a local file: STOR, APPE (mode "append"), or REST+STOR from `offset`, reading the
   * file from the same offset. Uses a few reused buffers instead of a stream, so memory stays
   * flat. Resolves with the bytes sent.
   */
  async uploadFile(localPath: string, path: string, options: TransferOptions & { mode?: "store" | "append"; offset?: number } = {}): Promise<number> {
    const offset = checkOffset(options.offset);
    if (offset > 0 && options.mode === "append") throw new FtpUsageError("uploadFile: offset and mode \"append\" exclude each other");
    const handle = await open(localPath, "r");
    try {
      const data = await this.#openData(options.signal);
      await this.#restartAt(offset, data);
      return await new TransferResolver(this.#control, {
        verb: options.mode === "append" ? "APPE" : "STOR", arg: path, direction: "upload", sourceFile: { handle, position: offset },
        data, dataTimeoutMs: this.#dataTimeoutMs, signal: options.signal, onProgress: options.onProgress, logger: this.#logger,
      }).run();
    } finally {
      await handle.close();
    }
  }

  /**
   * Give `from` a modification time, then rename it to `to`: MFMT (else the two-argument
   * MDTM; neither when the server has none), RNFR and RNTO pipelined in one write, so a
   * publish costs one round trip instead of three. The time is set on `from` first, so a
   * failed rename never touches `to`; renaming keeps the time. Resolves with whether the
   * time was set; rejects with the rename's error.
   */
  async renameWithTime(from: string, to: string, date: Date | undefined): Promise<boolean> {
    const setter = timeSetter(this.features, from, date);
    const commands: [string, string][] = [...(setter ? [setter] : []), ["RNFR", from], ["RNTO", to]];
    // One write, unless the server was found to need one command at a time (pipelineDecision.ts).
    const replies = pipelineVerdict(this.#server) === "lockstep" ? await this.#oneByOne(commands) : await this.#control.requestSeries(commands);
    const [rnfr, rnto] = replies.slice(setter ? 1 : 0);
    if (rnfr instanceof FtpReplyError) throw rnfr;
    if (rnto instanceof FtpReplyError) throw rnto;
    const set = setter ? replies[0] : undefined;
    if (!setter || !set || set instanceof FtpReplyError) return false;
    // A server without the two-argument MDTM may answer as for a query about a file named
    // "<time> <path>": that reply carries a time, a real "set" does not.
    return timeWasSet(setter, set);
  }

  /**
   * Take the connection as one pipelined owner (STYLE guideline 1), or undefined when this
   * server is driven in lockstep: pipelining switched off, active mode, or the server's
   * verdict (probed once per server and process, see pipelineDecision.ts). While the pipeline
   * is held no other call may use the client; `release()` it when done. Rejects with a
   * PipelineBrokenError (retriable; the connection is closed) when the probe shows the server
   * mishandles queued commands.
   */
  async pipeline(owner: string): Promise<FtpPipeline | undefined> {
    if (!this.#pipelining || !this.#passiveMode || this.closed) return undefined;
    // The passive command must be one known to work: EPSV when FEAT lists it, else the one a
    // lockstep transfer on this connection settled on (#firstThatWorks tries EPSV, then PASV).
    const passive = this.#passive ?? (this.features.epsv ? "EPSV" : undefined);
    if (!passive) return undefined;
    const verdict = await decidePipelining(this.#server, this.#control, this.#logger);
    if (verdict !== "pipeline") return undefined;
    const handle = this.#control.openPipeline({
      owner, stallMs: this.#pipelineStallMs,
      onBroken: (err: PipelineBrokenError) => switchToLockstep(this.#server, err.reason, this.#logger, err.message),
    });
    // The algorithm OPTS HASH selected is the connection's, shared with the lockstep path.
    const read = (): HashAlgorithm | undefined => this.#hashSelected;
    const write = (v: HashAlgorithm | undefined): void => { this.#hashSelected = v; };
    const hashState = { get selected() { return read(); }, set selected(v) { write(v); } };
    return new FtpPipeline({
      handle, control: this.#control, features: this.features, logger: this.#logger,
      controlHost: this.#control.socket.remoteAddress ?? "", passive,
      dataTimeoutMs: this.#dataTimeoutMs, tls: this.#tls, hashState,
    });
  }

  /** requestSeries one command at a time, for a server that mishandles queued commands. */
  async #oneByOne(commands: readonly [string, string][]): Promise<(Reply | FtpReplyError)[]> {
    const replies: (Reply | FtpReplyError)[] = [];
    for (const [verb, arg] of commands) {
      try {
        replies.push(await this.#control.request(verb, arg));
      } catch (err) {
        if (!(err instanceof FtpReplyError)) throw err;
        replies.push(err);
      }
    }
    return replies;
  }

  /** Rename (RNFR + RNTO). */
  async rename(from: string, to: string): Promise<void> {
    await this.#control.request("RNFR", from);
    await this.#control.request("RNTO", to);
  }

  /** Delete a file (DELE). */
  async remove(path: string): Promise<void> {
    await this.#control.request("DELE", path);
  }

  /** Create one directory (MKD). */
  async mkdir(path: string): Promise<void> {
    await this.#control.request("MKD", path);
  }

  /** Create a directory and any missing parents; succeeds when it already exists. The current directory is unchanged. */
  async ensureDir(path: string): Promise<void> {
    const parts = path.split("/").filter((p) => p !== "" && p !== ".");
    let prefix = path.startsWith("/") ? "/" : "";
    let lastError: unknown;
    for (const part of parts) {
      prefix = prefix === "" ? part : prefix.endsWith("/") ? prefix + part : `${prefix}/${part}`;
      try {
        await this.mkdir(prefix);
        lastError = undefined;
      } catch (err) {
        if (!isReplyError(err)) throw err;
        lastError = err; // usually "exists"; verified below
      }
    }
    if (lastError === undefined) return;
    const here = await this.pwd();
    try {
      await this.cwd(path);
    } catch (err) {
      throw new FtpReplyError((lastError as FtpReplyError).code, `cannot create directory ${path}: ${(lastError as Error).message}`, "MKD", { cause: err });
    }
    await this.cwd(here);
  }

  /** Remove an empty directory (RMD). */
  async rmdir(path: string): Promise<void> {
    await this.#control.request("RMD", path);
  }

  /** Change the current directory (CWD). */
  async cwd(path: string): Promise<void> {
    await this.#control.request("CWD", path);
  }

  /** The current directory (PWD): the quoted path of the 257 reply, "" quotes undoubled (RFC 959 appendix II). */
  async pwd(): Promise<string> {
    const text = replyMessage(await this.#control.request("PWD"));
    const m = /"((?:[^"]|"")*)"/.exec(text);
    if (!m?.[1]) throw new ProtocolError(`PWD: no quoted path in ${JSON.stringify(text.slice(0, 80))}`);
    return m[1].replace(/""/g, '"');
  }

  /** NOOP: checks the connection and keeps it from idling out. */
  async noop(): Promise<void> {
    await this.#control.request("NOOP");
  }

  /** Say goodbye (QUIT) and close; never throws. */
  async quit(): Promise<void> {
    if (this.closed) return;
    try {
      await this.#control.request("QUIT");
      await this.#serverEnd(QUIT_CLOSE_WAIT_MS);
    } catch {
      // The connection ends either way.
    } finally {
      this.close();
    }
  }

  /**
   * After its 221 the server ends the session: wait (bounded) until it did, so that a caller
   * counting sessions against the server's limit (fleet connection slots) frees its slot only
   * once the server no longer counts this one.
   */
  #serverEnd(ms: number): Promise<void> {
    const socket = this.#control.socket;
    if (socket.destroyed || socket.readableEnded) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        socket.off("end", done);
        socket.off("close", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      timer.unref();
      socket.once("end", done);
      socket.once("close", done);
    });
  }

  /** Close the connection at once. */
  close(): void {
    this.#control.closeWithError(new FtpConnectionError("the connection was closed by the client"));
  }

  /** Run a listing command, feeding its data through `parser` as it arrives. */
  async #retrieveListing(verb: string, arg: string, parser: ListingParser, signal?: AbortSignal,
    afterChunk?: () => Promise<void> | undefined): Promise<void> {
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        let wait: Promise<void> | undefined;
        try {
          parser.push(chunk);
          wait = afterChunk?.();
        } catch (err) {
          // A cap (or a throwing callback) aborts the transfer: ABOR, and the call rejects with it.
          return done(err as Error);
        }
        if (wait) wait.then(() => done(), (err: unknown) => done(err instanceof Error ? err : new Error(String(err))));
        else done();
      },
    });
    const data = await this.#openData(signal);
    await new TransferResolver(this.#control, {
      verb, arg, direction: "download", destination: sink, data, dataTimeoutMs: this.#dataTimeoutMs, signal, logger: this.#logger,
    }).run();
    parser.end();
  }

  /**
   * Open a data connection; a passive plain one reads through `receiver()` when given, a
   * passive TLS one through `fileReceiver` when given (TLS sockets have no onread).
   */
  async #openData(signal?: AbortSignal, receiver?: () => Receiver, fileReceiver?: FileReceiver): Promise<DataConnection> {
    const data = await this.#openPlainData(signal, this.#tls ? undefined : receiver);
    if (!this.#tls) return data;
    // Active mode has no receiver on the plain path either: keep it uniform.
    return wrapDataTls(data, this.#tls, this.#passiveMode ? fileReceiver : undefined);
  }

  async #openPlainData(signal: AbortSignal | undefined, receiver: (() => Receiver) | undefined): Promise<DataConnection> {
    if (signal?.aborted) throw abortError(signal, "transfer");
    const options = { timeoutMs: this.#dataTimeoutMs, logger: this.#logger, ...(receiver ? { receiver } : {}) };
    const ipv6 = isIPv6(this.#control.socket.remoteAddress ?? "") && !/^::ffff:/i.test(this.#control.socket.remoteAddress ?? "");
    if (!this.#passiveMode) {
      const order: ("EPRT" | "PORT")[] = this.#active ? [this.#active] : ipv6 ? ["EPRT"] : ["EPRT", "PORT"];
      return this.#firstThatWorks(order, (c) => openActive(this.#control, c, options), (c) => (this.#active = c));
    }
    // PASV carries IPv4 only, so an IPv6 control connection has EPSV alone (RFC 2428).
    const order: PassiveCommand[] = this.#passive ? [this.#passive] : ipv6 ? ["EPSV"] : ["EPSV", "PASV"];
    return this.#firstThatWorks(order, (c) => openPassive(this.#control, c, options), (c) => (this.#passive = c));
  }

  async #firstThatWorks<C extends string>(order: C[], open: (c: C) => Promise<DataConnection>, remember: (c: C) => void): Promise<DataConnection> {
    let firstError: unknown;
    for (const command of order) {
      try {
        const data = await open(command);
        remember(command);
        return data;
      } catch (err) {
        // Only "not understood / not implemented" replies move on to the next command.
        if (!isNotUnderstood(err, 522)) throw err; // 522: EPRT's network protocol not supported
        firstError ??= err;
      }
    }
    throw firstError;
  }
}
