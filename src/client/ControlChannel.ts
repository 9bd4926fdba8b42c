import type { Socket } from "node:net";
import { StringDecoder } from "node:string_decoder";
import type { Logger } from "../log/index.js";
import { FtpReplyError, ProtocolError, formatCommand, mask, parseReplies, type Reply } from "../protocol/index.js";
import { FtpConnectionError, FtpTimeoutError, FtpUsageError, PipelineBrokenError } from "./errors.js";
import { misfit } from "./replyFit.js";

/** What a reply handler may do with the running task. */
export interface TaskControl<T> {
  resolve(value: T): void;
  reject(err: unknown): void;
}

/** Called for every reply (preliminary ones included) while a task runs. */
export type ReplyHandler<T> = (reply: Reply, task: TaskControl<T>) => void;

/** Options of a control channel. */
export interface ControlChannelOptions {
  /** Where commands and replies are logged (debug; passwords masked); give it a child logger that names the peer. */
  logger: Logger;
  /** How long a command may wait for its reply, in ms; 0 disables. */
  timeoutMs: number;
  /** Label for errors, e.g. "ftp.example.com:21". */
  peer: string;
}

interface Task {
  readonly command: string;
  /** Where the task was started (only with FERRY_TRACE_CALLS=1); formatted only if a second call collides. */
  readonly calledFrom: Error | undefined;
  readonly handler: ReplyHandler<unknown>;
  readonly control: TaskControl<unknown>;
}

/** A command of a pipelined owner, waiting for its reply in the ordered queue. */
interface QueuedTask extends Task {
  readonly verb: string;
  /** Sent while an earlier command still waited for its reply: its silence may mean a dropped command. */
  readonly behind: boolean;
  /** Some reply (1xx included) has arrived for it. */
  answered: boolean;
  /** Its final reply (2xx-5xx) has arrived: it left the queue. */
  replied: boolean;
}

/** Options of a pipelined owner (ControlChannel.openPipeline). */
export interface PipelineOptions {
  /** Who holds the connection, for the single-owner error. */
  readonly owner: string;
  /**
   * How long a command sent behind another may stay without any reply once it is the oldest
   * in flight, in ms, before the server is taken to have dropped it.
   */
  readonly stallMs: number;
  /** Told once when the connection falls out of step (before it closes). */
  readonly onBroken: (err: PipelineBrokenError) => void;
}

/**
 * The holder of a pipelined connection: commands go out at once and their replies are matched
 * in order (RFC 959 section 5.3). Only the holder may send; `release` hands the connection
 * back once nothing is in flight.
 */
export interface PipelineHandle {
  /** Send a command now; resolves with its 2xx/3xx reply, rejects with FtpReplyError on 4xx/5xx. */
  request(verb: string, arg?: string): Promise<Reply>;
  /** Send a command whose handler sees every reply of it (transfers: 1xx, then 226). */
  handle<T>(verb: string, arg: string | undefined, handler: ReplyHandler<T>, onStart?: (task: TaskControl<T>) => void): Promise<T>;
  /** Commands sent that still wait for their final reply. */
  readonly inFlight: number;
  /**
   * A reply that fitted by its code turned out not to answer its command (a SIZE reply that
   * is no number, a checksum for another file): the connection is out of step; break it.
   */
  outOfStep(reason: string): void;
  /** Give the connection back (lockstep again); refused while commands are in flight. */
  release(): void;
}

// Pending reply text beyond this without a complete reply is a broken or hostile peer
// (STYLE guideline 3: buffers are capped).
const MAX_PENDING_TEXT = 64 * 1024;

// Frames kept per call site: the channel's own three and six of the caller's. Walking fewer
// frames (async ones included) makes the capture cheaper; six are enough to find the caller.
const CALL_SITE_FRAMES = 9;

// A stack capture per command (a few us, thousands per mirror) is work that only a rare
// programming error needs: the running call's site is kept only on request, and a collision
// always shows the second call's site (captured then).
const TRACE_CALLS = process.env.FERRY_TRACE_CALLS === "1";

function captureCallSite(): Error {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = CALL_SITE_FRAMES;
  const site = new Error("call site");
  Error.stackTraceLimit = limit;
  return site;
}

/** The frames of a captured call site, without the Error line and the channel's own three frames. */
function callSite(site: Error): string {
  return site.stack?.split("\n").slice(4).join("\n") ?? "";
}

/** The reply text on one line, for error messages. */
export function replyMessage(reply: Reply): string {
  return reply.lines.map((l) => l.trim()).filter((l) => l !== "").join(" ");
}

/**
 * One FTP control connection that runs exactly one command at a time, and enforces it
 * (STYLE guideline 1): a second `request`/`handle` while one runs is a loud FtpUsageError
 * naming both call sites. Transport failures all go through `closeWithError`, which keeps
 * the first cause and puts it in every later error's `cause` (guideline 2).
 */
export class ControlChannel {
  // parameters
  readonly socket: Socket;
  readonly #logger: Logger;
  readonly #timeoutMs: number;
  readonly #peer: string;
  // internal state
  #task: Task | undefined;
  #pending = "";
  readonly #decoder = new StringDecoder("utf8");
  #closingError: Error | undefined;
  #lostByPeer = false;
  #timeoutEnabled = true;
  /** Replies that arrived with no command waiting since the last command was sent. */
  #strayReplies = 0;
  /** The pipelined owner holding the connection, if any. */
  #owner: PipelineOptions | undefined;
  /** Commands of the pipelined owner awaiting their final reply, oldest first. */
  readonly #queue: QueuedTask[] = [];
  #corked = false;

  constructor(socket: Socket, options: ControlChannelOptions) {
    this.socket = socket;
    this.#logger = options.logger;
    this.#timeoutMs = options.timeoutMs;
    this.#peer = options.peer;
    // Commands are small and interactive: don't let Nagle delay them (never on data sockets).
    socket.setNoDelay(true);
    socket.on("data", this.#listeners.data);
    socket.on("timeout", this.#listeners.timeout);
    socket.on("error", this.#listeners.error);
    socket.on("close", this.#listeners.close);
  }

  readonly #listeners = {
    data: (chunk: Buffer): void => this.#onData(chunk),
    timeout: (): void => this.#onTimeout(),
    error: (err: Error): void => this.#lost(new FtpConnectionError(`control connection to ${this.#peer}: ${err.message}`, { cause: err })),
    close: (): void => this.#lost(new FtpConnectionError(`${this.#peer} closed the control connection`)),
  };

  /** The server or the network ended the connection (not this client, not a protocol breach). */
  #lost(err: Error): void {
    if (!this.#closingError) this.#lostByPeer = true;
    this.closeWithError(err);
  }

  /**
   * Hand the socket over (after AUTH TLS, to wrap it in TLS): this channel stops listening
   * and counts as closed. Refused while a command runs or reply text is pending.
   */
  detach(): Socket {
    if (this.#task || this.#owner) throw new FtpUsageError("cannot detach a control channel in the middle of a reply");
    // FAULTS I8, B5 (CVE-2011-0411, curl CVE-2021-22947): bytes after the reply that starts TLS
    // were injected by whoever sits on the plain connection; acting on them, or letting them
    // pass for TLS records, would be acting on forged replies.
    if (this.#pending !== "" || this.#strayReplies > 0) {
      throw new ProtocolError(`${this.#peer} sent more after the reply that starts TLS (unread plaintext: ` +
        `${this.#pending !== "" ? JSON.stringify(this.#pending.slice(0, 60)) : `${this.#strayReplies} more reply`}); refusing to continue - someone may be injecting replies`);
    }
    for (const [event, listener] of Object.entries(this.#listeners)) this.socket.off(event, listener as (...args: unknown[]) => void);
    this.socket.setTimeout(0);
    this.#closingError = new FtpConnectionError(`${this.#peer}: control connection handed over to TLS`);
    return this.socket;
  }

  /**
   * True when the server or the network closed the connection (socket end or error, 421), as
   * opposed to this client closing it or giving up on the server: a download's data
   * connection may then still hold bytes the server sent before, worth keeping.
   */
  get lostByPeer(): boolean {
    return this.#lostByPeer;
  }

  /** True once the connection is closed, for whatever reason. */
  get closed(): boolean {
    return this.#closingError !== undefined;
  }

  /** The error that closed the connection, if it is closed. */
  get closingError(): Error | undefined {
    return this.#closingError;
  }

  /** The command of the running task, if any. */
  get busyWith(): string | undefined {
    return this.#task?.command ?? this.#queue[0]?.command ?? (this.#owner ? `the pipeline of ${this.#owner.owner}` : undefined);
  }

  /**
   * Become the one owner of the connection and pipeline: commands are sent without waiting
   * for earlier replies, and every reply is matched to the oldest command in flight. A reply
   * that cannot answer that command (misfit), a reply with no command waiting, or a command
   * sent behind another that stays unanswered for `stallMs` closes the connection with a
   * PipelineBrokenError, after `onBroken`. Refused (FtpUsageError) while another owner or a
   * lockstep command holds the connection.
   */
  openPipeline(options: PipelineOptions): PipelineHandle {
    const holder = this.#task?.command ?? (this.#owner ? `the pipeline of ${this.#owner.owner}` : undefined);
    if (holder !== undefined) {
      const err = new FtpUsageError(`${options.owner} asked for the connection while ${holder} holds it: one owner at a time`);
      this.#logger.error({ err: err.message }, "ftp single-owner violation");
      throw err;
    }
    if (this.#closingError) throw new FtpConnectionError(`cannot pipeline: connection is closed (${this.#closingError.message})`, { cause: this.#closingError });
    this.#owner = options;
    this.#strayReplies = 0;
    const owner = options;
    const queue = this.#queue;
    const check = (): void => {
      if (this.#owner !== owner) throw new FtpUsageError(`the pipeline of ${owner.owner} was used after it was released`);
    };
    return {
      request: (verb, arg) => {
        try {
          check();
        } catch (err) {
          return Promise.reject(err);
        }
        return this.#enqueue<Reply>(verb, arg, (reply, task) => {
          if (reply.code < 200) return;
          if (reply.code < 400) task.resolve(reply);
          else task.reject(new FtpReplyError(reply.code, replyMessage(reply), mask(`${verb}${arg === undefined ? "" : ` ${arg}`}`)));
        });
      },
      handle: (verb, arg, handler, onStart) => {
        try {
          check();
        } catch (err) {
          return Promise.reject(err);
        }
        return this.#enqueue(verb, arg, handler, onStart);
      },
      get inFlight() {
        return queue.length;
      },
      outOfStep: (reason) => {
        if (this.#owner === owner) this.#broken(reason);
      },
      release: () => {
        if (this.#owner !== owner) return;
        if (this.#queue.length > 0 && !this.closed) {
          throw new FtpUsageError(`the pipeline of ${owner.owner} was released with ${this.#queue.length} command(s) in flight (${this.#queue[0]!.command} first)`);
        }
        this.#owner = undefined;
        this.#armTimeout();
      },
    };
  }

  /**
   * Send a command and resolve with its first 2xx or 3xx reply; 1xx replies are passed
   * over, 4xx/5xx reject with FtpReplyError (the connection stays usable).
   */
  request(verb: string, arg?: string): Promise<Reply> {
    let line: string;
    try {
      line = formatCommand(verb, arg);
    } catch (err) {
      return Promise.reject(err);
    }
    const shown = mask(line.trimEnd());
    return this.#start<Reply>(line, shown, (reply, task) => {
      if (reply.code < 200) return;
      if (reply.code < 400) task.resolve(reply);
      else task.reject(new FtpReplyError(reply.code, replyMessage(reply), shown));
    });
  }

  /**
   * Send several commands in one write (pipelined, RFC 959 lets a server read ahead) as one
   * task, and resolve once each has its 2xx/3xx reply or its error, in order: one round trip
   * instead of one per command. Reply errors do not reject (the replies of the later commands
   * are still read, so the connection stays in step); only transport failures do. Use it for
   * commands whose failure cannot harm what the next one does.
   */
  requestSeries(commands: readonly (readonly [verb: string, arg?: string])[]): Promise<(Reply | FtpReplyError)[]> {
    let lines: string[];
    try {
      lines = commands.map(([verb, arg]) => formatCommand(verb, arg));
    } catch (err) {
      return Promise.reject(err);
    }
    if (lines.length === 0) return Promise.resolve([]);
    const shown = lines.map((l) => mask(l.trimEnd()));
    const replies: (Reply | FtpReplyError)[] = [];
    return this.#start<(Reply | FtpReplyError)[]>(lines.join(""), shown.join(" + "), (reply, task) => {
      if (reply.code < 200) return;
      replies.push(reply.code < 400 ? reply : new FtpReplyError(reply.code, replyMessage(reply), shown[replies.length]));
      if (replies.length === lines.length) task.resolve(replies);
    });
  }

  /**
   * Run a task that sees every reply until it resolves: transfers (1xx, then 226), the
   * greeting (`verb` undefined: nothing is sent). `onStart` runs once the command is sent.
   */
  handle<T>(verb: string | undefined, arg: string | undefined, handler: ReplyHandler<T>, onStart?: (task: TaskControl<T>) => void): Promise<T> {
    let line = "";
    try {
      if (verb !== undefined) line = formatCommand(verb, arg);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#start<T>(line, mask(line.trimEnd()) || "(greeting)", handler, onStart);
  }

  /**
   * Write a command outside the task discipline. Only the holder of the running task may do
   * this, for ABOR and the NOOP fence after it.
   */
  sendRaw(verb: string): void {
    if (this.closed) return;
    const line = formatCommand(verb);
    this.#logger.debug({ command: verb }, "ftp >");
    this.socket.write(line);
  }

  /** Switch the reply timeout off while a data connection has it, and back on (guideline 5). */
  setTimeoutEnabled(on: boolean): void {
    this.#timeoutEnabled = on;
    this.#armTimeout();
  }

  /** Close the connection because of `err`; the first cause is kept for every later error. */
  closeWithError(err: Error): void {
    if (this.#closingError) return;
    this.#closingError = err;
    this.#logger.debug({ err: err.message }, "ftp control connection closed");
    this.socket.destroy();
    const task = this.#task;
    this.#task = undefined;
    task?.control.reject(err);
    for (const queued of this.#queue.splice(0)) queued.control.reject(err);
  }

  /** The pipelined connection fell out of step: tell the owner, then close (its replies cannot be trusted). */
  #broken(reason: string): void {
    if (this.closed) return;
    const waiting = this.#queue.slice(0, 4).map((t) => t.command).join(", ");
    const err = new PipelineBrokenError(`${this.#peer} cannot pipeline commands: ${reason}` +
      (waiting ? ` (waiting for replies: ${waiting}${this.#queue.length > 4 ? ", ..." : ""})` : ""), reason);
    try {
      this.#owner?.onBroken(err);
    } catch (e) {
      this.#logger.warn({ err: (e as Error).message }, "pipeline onBroken threw; ignored");
    }
    this.closeWithError(err);
  }

  #enqueue<T>(verb: string, arg: string | undefined, handler: ReplyHandler<T>, onStart?: (task: TaskControl<T>) => void): Promise<T> {
    let line: string;
    try {
      line = formatCommand(verb, arg);
    } catch (err) {
      return Promise.reject(err);
    }
    const shown = mask(line.trimEnd());
    if (this.#closingError) {
      const first = this.#closingError;
      return Promise.reject(new FtpConnectionError(`cannot send ${shown}: connection is closed (${first.message})`, { cause: first }));
    }
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const control: TaskControl<T> = {
        resolve: (value) => {
          if (settled) return;
          settled = true;
          // Settled before its final reply: the reply still to come would be matched with the next command.
          if (!task.replied) this.#broken(`${shown} finished before its final reply`);
          resolve(value);
        },
        reject: (err) => {
          if (settled) return;
          settled = true;
          if (!task.replied && !this.closed) {
            this.closeWithError(new FtpConnectionError(`${shown} was abandoned before its reply (${(err as Error).message}); a pipelined connection cannot stay in step without it`, { cause: err }));
          }
          reject(err);
        },
      };
      const task: QueuedTask = {
        command: shown, verb: verb.toUpperCase(), calledFrom: undefined, handler: handler as ReplyHandler<unknown>,
        control: control as TaskControl<unknown>, behind: this.#queue.length > 0, answered: false, replied: false,
      };
      this.#queue.push(task);
      this.#timeoutEnabled = true;
      this.#armTimeout();
      this.#logger.debug({ command: shown, queued: this.#queue.length }, "ftp >");
      // Commands sent in one turn of the event loop leave in one write (one packet).
      if (!this.#corked) {
        this.#corked = true;
        this.socket.cork();
        process.nextTick(() => {
          this.#corked = false;
          this.socket.uncork();
        });
      }
      this.socket.write(line);
      onStart?.(control);
    });
  }

  #start<T>(line: string, shown: string, handler: ReplyHandler<T>, onStart?: (task: TaskControl<T>) => void): Promise<T> {
    if (this.#closingError) {
      const first = this.#closingError;
      return Promise.reject(new FtpConnectionError(`cannot send ${shown}: connection is closed (${first.message})`, { cause: first }));
    }
    if (this.#owner) {
      const err = new FtpUsageError(`${shown} was sent while the pipeline of ${this.#owner.owner} holds the connection: one owner at a time ` +
        `- send it through that pipeline, or use another connection of the pool.\nsecond call:\n${callSite(captureCallSite())}`);
      this.#logger.error({ err: err.message }, "ftp single-owner violation");
      return Promise.reject(err);
    }
    if (this.#task) {
      const err = new FtpUsageError(
        `${shown} was sent while ${this.#task.command} is still running: an FTP control connection runs one ` +
          `command at a time - await the first call, or use a ClientPool for concurrency.\n` +
          `running call:\n${this.#task.calledFrom ? callSite(this.#task.calledFrom) : "    (set FERRY_TRACE_CALLS=1 to record where each command starts)"}\n` +
          `second call:\n${callSite(captureCallSite())}`,
      );
      this.#logger.error({ err: err.message }, "ftp single-flight violation");
      return Promise.reject(err);
    }
    return new Promise<T>((resolve, reject) => {
      const control: TaskControl<T> = {
        resolve: (value) => {
          if (this.#task?.control !== (control as TaskControl<unknown>)) return;
          this.#task = undefined;
          this.#armTimeout();
          resolve(value);
        },
        reject: (err) => {
          if (this.#task?.control === (control as TaskControl<unknown>)) {
            this.#task = undefined;
            this.#armTimeout();
          }
          reject(err);
        },
      };
      this.#strayReplies = 0;
      this.#task = { command: shown, calledFrom: TRACE_CALLS ? captureCallSite() : undefined, handler: handler as ReplyHandler<unknown>, control: control as TaskControl<unknown> };
      this.#timeoutEnabled = true;
      this.#armTimeout();
      if (line !== "") {
        this.#logger.debug({ command: shown }, "ftp >");
        this.socket.write(line);
      }
      onStart?.(control);
    });
  }

  #armTimeout(): void {
    if (this.closed) return;
    const head = this.#queue[0];
    if (head) {
      const stall = head.behind && !head.answered && this.#owner ? this.#owner.stallMs : 0;
      const ms = stall > 0 && (this.#timeoutMs === 0 || stall < this.#timeoutMs) ? stall : this.#timeoutMs;
      this.socket.setTimeout(this.#timeoutEnabled ? ms : 0);
      return;
    }
    this.socket.setTimeout(this.#task && this.#timeoutEnabled ? this.#timeoutMs : 0);
  }

  #onTimeout(): void {
    const head = this.#queue[0];
    if (head && this.#timeoutEnabled) {
      if (head.behind && !head.answered && this.#owner && (this.#timeoutMs === 0 || this.#owner.stallMs < this.#timeoutMs)) {
        this.#broken(`no reply to ${head.command} within ${this.#owner.stallMs} ms after the command before it was answered (a dropped command)`);
      } else {
        this.closeWithError(new FtpTimeoutError(`${this.#peer}: no reply to ${head.command} within ${this.#timeoutMs} ms`));
      }
      return;
    }
    if (!this.#task || !this.#timeoutEnabled) return;
    const what = this.#task.command;
    this.closeWithError(new FtpTimeoutError(`${this.#peer}: no reply to ${what} within ${this.#timeoutMs} ms`));
  }

  #onData(chunk: Buffer): void {
    this.#pending += this.#decoder.write(chunk);
    let replies: Reply[];
    try {
      const parsed = parseReplies(this.#pending);
      replies = parsed.replies;
      this.#pending = parsed.rest;
      if (this.#pending.length > MAX_PENDING_TEXT) {
        throw new ProtocolError(`reply longer than ${MAX_PENDING_TEXT} bytes without an end`);
      }
    } catch (err) {
      this.closeWithError(new FtpConnectionError(`${this.#peer} broke the protocol: ${(err as Error).message}`, { cause: err }));
      return;
    }
    for (const reply of replies) this.#dispatch(reply);
  }

  #dispatch(reply: Reply): void {
    if (this.closed) return;
    this.#logger.debug({ code: reply.code, text: replyMessage(reply) }, "ftp <");
    if (this.#owner) {
      this.#dispatchQueued(reply);
      return;
    }
    const task = this.#task;
    if (!task) {
      // 421 may come at any time: the server is shutting the session (idle timeout, restart).
      if (reply.code === 421) {
        this.#closedBy421(reply);
      } else {
        this.#strayReplies++;
        this.#logger.warn({ code: reply.code, text: replyMessage(reply) }, "ftp reply without a command; ignored");
      }
      return;
    }
    // Any activity counts against the timeout, not the whole command's duration.
    this.#armTimeout();
    try {
      task.handler(reply, task.control);
    } catch (err) {
      task.control.reject(err);
    }
    if (reply.code === 421 && !this.closed) {
      // The server says it is closing; whatever the handler did, this connection is over.
      this.#closedBy421(reply, task.command);
    }
  }

  /** 421: the server is closing the session (idle timeout, restart); the connection is over. */
  #closedBy421(reply: Reply, command?: string): void {
    const cause = new FtpReplyError(421, replyMessage(reply), command);
    this.#lost(new FtpConnectionError(`${this.#peer} closed the session: 421 ${replyMessage(reply)}`, { cause }));
  }

  /** A reply while a pipelined owner holds the connection: it answers the oldest command in flight, or nothing fits. */
  #dispatchQueued(reply: Reply): void {
    const head = this.#queue[0];
    if (!head) {
      if (reply.code === 421) {
        this.#closedBy421(reply);
      } else {
        this.#broken(`${reply.code} ${replyMessage(reply)} arrived with no command waiting for a reply`);
      }
      return;
    }
    const why = misfit(head.verb, reply);
    if (why) {
      this.#broken(`${why}, in reply to ${head.command} (out of order, or a queued command was dropped)`);
      return;
    }
    head.answered = true;
    if (reply.code >= 200) {
      this.#queue.shift();
      head.replied = true;
    }
    this.#armTimeout();
    try {
      head.handler(reply, head.control);
    } catch (err) {
      head.control.reject(err);
    }
    if (reply.code === 421 && !this.closed) {
      this.#closedBy421(reply, head.command);
    }
  }
}
