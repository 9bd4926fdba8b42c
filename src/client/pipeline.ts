import type { Writable } from "node:stream";
import type { Logger } from "../log/index.js";
import { FtpReplyError, ProtocolError, formatTimeVal, type HashAlgorithm, type Reply } from "../protocol/index.js";
import { replyMessage, type ControlChannel, type PipelineHandle } from "./ControlChannel.js";
import { BulkReceiver, connectData, passiveTarget, type DataConnection, type PassiveCommand } from "./dataChannel.js";
import { FtpConnectionError, FtpUsageError, abortError } from "./errors.js";
import type { Capabilities } from "./features.js";
import { hashOf, sizeOf, type Queries } from "./queries.js";
import { wrapDataTls, type TlsState } from "./tls.js";
import { TransferResolver } from "./transfer.js";

/** A passive data connection asked for in a pipeline; opaque to callers. */
export interface PipelinedData {
  /** Resolves once the server's reply (EPSV/PASV) is in and the connection is being made: a transfer may then be sent. */
  readonly ready: Promise<void>;
  /** Tear it down when it goes unused; resolves once its reply is in (the pipeline may then be released). */
  close(): Promise<void>;
}

interface Opened extends PipelinedData {
  /** Set once the reply is in. */
  made: DataConnection | undefined;
}

/** What a pipeline needs from its FtpClient. */
export interface PipelineContext {
  readonly handle: PipelineHandle;
  /** The channel under the handle (timeouts and closing for transfers). */
  readonly control: ControlChannel;
  readonly features: Capabilities;
  readonly logger: Logger;
  readonly controlHost: string;
  readonly passive: PassiveCommand;
  readonly dataTimeoutMs: number;
  readonly tls: TlsState | undefined;
  /** The HASH algorithm selected on the connection (OPTS HASH), shared with the lockstep path. */
  readonly hashState: { selected: HashAlgorithm | undefined };
}

function madeOf(data: PipelinedData): DataConnection {
  const made = (data as Opened).made;
  if (!made) throw new FtpUsageError("a pipelined transfer was sent before its passive reply arrived: await data.ready first");
  return made;
}

/** The command that sets `from`'s time before a rename, or undefined when the server has none. */
export function timeSetter(features: Capabilities, from: string, date: Date | undefined): [string, string] | undefined {
  if (!date) return undefined;
  const time = formatTimeVal(date).slice(0, 14);
  return features.mfmt ? ["MFMT", `${time} ${from}`] : features.mdtm ? ["MDTM", `${time} ${from}`] : undefined;
}

/** Whether the reply to a time setter says the time was set (a two-argument MDTM read as a query carries a time). */
export function timeWasSet(setter: [string, string], reply: Reply): boolean {
  return setter[0] === "MFMT" || !/^\d{14}/.test(replyMessage(reply));
}

/**
 * One owner's pipelined use of a connection (STYLE guideline 1): every method sends its
 * commands at once and returns the promise of their replies, which are matched in order.
 * Commands sent in one turn of the event loop leave in one write. The caller decides what
 * waits for what: nothing here publishes anything.
 */
export class FtpPipeline {
  readonly #c: PipelineContext;

  constructor(context: PipelineContext) {
    this.#c = context;
  }

  /** Commands still waiting for their final reply. */
  get inFlight(): number {
    return this.#c.handle.inFlight;
  }

  /** Send any command; resolves with its 2xx/3xx reply. */
  request(verb: string, arg?: string): Promise<Reply> {
    return this.#c.handle.request(verb, arg);
  }

  /**
   * Ask for a passive data connection (EPSV, or PASV when that is what the session uses); the
   * data connection is made as soon as the reply arrives, beside whatever else is in flight.
   * `download` reads it through a BulkReceiver.
   */
  passive(download = false): PipelinedData {
    const c = this.#c;
    const reply = c.handle.request(c.passive);
    let closed = false;
    const opened: Opened = {
      made: undefined,
      ready: reply.then((r) => {
        const target = passiveTarget(c.passive, r.lines.join(" "), c.controlHost, c.logger);
        const receiver = download && !c.tls ? new BulkReceiver() : undefined;
        const socket = connectData(target, { timeoutMs: c.dataTimeoutMs, logger: c.logger }, receiver);
        socket.catch(() => undefined); // observed by the transfer that uses it
        const plain: DataConnection = {
          socket, ...(receiver ? { receiver } : {}),
          close: () => void socket.then((s) => s.destroy(), () => undefined),
        };
        opened.made = c.tls ? wrapDataTls(plain, c.tls) : plain;
        if (closed) opened.made.close();
      }),
      close: async () => {
        closed = true;
        opened.made?.close();
        await opened.ready.catch(() => undefined);
      },
    };
    opened.ready.catch(() => undefined);
    return opened;
  }

  /**
   * STOR `bytes` (held in memory) to `path` over `data`, whose `ready` has resolved: the
   * command is sent now. Resolves with the bytes sent once 226 and the end of data are in.
   */
  store(path: string, bytes: Buffer, data: PipelinedData, signal?: AbortSignal): Promise<number> {
    const connection = madeOf(data);
    if (signal?.aborted) {
      connection.close();
      return Promise.reject(abortError(signal, "STOR"));
    }
    return new TransferResolver(this.#c.control, {
      verb: "STOR", arg: path, direction: "upload", sourceBuffer: bytes, data: connection, via: this.#c.handle, earlyData: true,
      dataTimeoutMs: this.#c.dataTimeoutMs, logger: this.#c.logger, ...(signal ? { signal } : {}),
    }).run();
  }

  /**
   * RETR `path` into `destination` (not ended) over `data` from passive(true), whose `ready`
   * has resolved: the command is sent now. Resolves with the bytes received.
   */
  retrieve(path: string, destination: Writable, data: PipelinedData, signal?: AbortSignal): Promise<number> {
    const connection = madeOf(data);
    if (signal?.aborted) {
      connection.close();
      return Promise.reject(abortError(signal, "RETR"));
    }
    return new TransferResolver(this.#c.control, {
      verb: "RETR", arg: path, direction: "download", destination, data: connection, via: this.#c.handle,
      dataTimeoutMs: this.#c.dataTimeoutMs, logger: this.#c.logger, ...(signal ? { signal } : {}),
    }).run();
  }

  /** SIZE; a reply that is no size means the replies are out of step (two 213s swapped) and breaks the pipeline. */
  size(path: string): Promise<number> {
    return this.#inStep(sizeOf(this.#queries(), path), `SIZE ${path}`);
  }

  /**
   * The server's checksum (as FtpClient.hash); undefined when it has none. A HASH reply that
   * names another file, or carries no checksum, breaks the pipeline (out of step).
   */
  hash(path: string, algorithms: readonly HashAlgorithm[]): Promise<{ algorithm: HashAlgorithm; value: string } | undefined> {
    const name = path.slice(path.lastIndexOf("/") + 1);
    const queries: Queries = {
      ...this.#queries(),
      request: async (verb, arg) => {
        const reply = await this.#c.handle.request(verb, arg);
        // "213 <algorithm> <start>-<end> <hex> <name>": the name, when given, must be this file's.
        const named = verb === "HASH" ? replyMessage(reply).split(" ").slice(4).join(" ") : "";
        if (named !== "" && !named.endsWith(name)) throw new ProtocolError(`HASH ${path} answered for ${JSON.stringify(named.slice(0, 80))}`);
        return reply;
      },
    };
    return this.#inStep(hashOf(queries, path, algorithms, this.#c.hashState), `HASH ${path}`);
  }

  /** A reply that does not parse for its command: with commands in flight, it may be another command's reply. */
  #inStep<T>(answer: Promise<T>, what: string): Promise<T> {
    return answer.catch((err: unknown) => {
      if (err instanceof ProtocolError) {
        this.#c.handle.outOfStep(`the reply to ${what} does not answer it (${err.message}): replies out of order`);
        // The file's fault is the connection's: retriable, redone in lockstep.
        throw this.#c.control.closingError ?? err;
      }
      throw err;
    });
  }

  /**
   * Set `from`'s time (MFMT, else the two-argument MDTM) and rename it to `to`, the three
   * commands in one write; as FtpClient.renameWithTime. Send it only once what `from` holds
   * is verified.
   */
  async renameWithTime(from: string, to: string, date: Date | undefined): Promise<boolean> {
    const setter = timeSetter(this.#c.features, from, date);
    const set = setter ? this.#c.handle.request(...setter).then((r) => r, (e: unknown) => e) : undefined;
    const rnfr = this.#c.handle.request("RNFR", from).then((r) => r, (e: unknown) => e);
    const rnto = this.#c.handle.request("RNTO", to).then((r) => r, (e: unknown) => e);
    const [s, a, b] = await Promise.all([set, rnfr, rnto]);
    if (a instanceof Error) throw a;
    if (b instanceof Error) throw b;
    if (!setter || s === undefined || s instanceof Error) {
      if (s instanceof Error && !(s instanceof FtpReplyError)) throw s;
      return false;
    }
    return timeWasSet(setter, s as Reply);
  }

  /** Give the connection back (lockstep again); only once nothing is in flight. */
  release(): void {
    this.#c.handle.release();
  }

  #queries(): Queries {
    return {
      request: (verb, arg) => this.#c.handle.request(verb, arg),
      features: this.#c.features,
      list: () => Promise.reject(new FtpConnectionError("no listing inside a pipeline")),
      logger: this.#c.logger,
    };
  }
}
