import type { FileHandle } from "node:fs/promises";
import type { Socket } from "node:net";
import { pipeline } from "node:stream/promises";
import type { Readable, Writable } from "node:stream";
import type { Logger } from "../log/index.js";
import { FtpReplyError, ProtocolError, type Reply } from "../protocol/index.js";
import { replyMessage, type ControlChannel, type PipelineHandle, type TaskControl } from "./ControlChannel.js";
import type { DataConnection } from "./dataChannel.js";
import { FtpConnectionError, FtpTimeoutError, abortError } from "./errors.js";

// uploadFile's read buffers: four of 1 MiB keep reads ahead of the socket (1 MiB measured
// faster than 256 KiB and 64 KiB on loopback).
const FILE_BUFFERS = 4;
const FILE_BUFFER_SIZE = 1024 * 1024;

/** How often a progress callback may run, in ms: progress must not cost per-chunk work. */
export const PROGRESS_INTERVAL_MS = 200;

/** One transfer over a data connection: the command, the direction and its local stream. */
export interface TransferSpec {
  readonly verb: string;
  readonly arg?: string;
  /** "download": data socket -> destination (not ended). "upload": source -> data socket. */
  readonly direction: "download" | "upload";
  readonly destination?: Writable;
  readonly source?: Readable;
  /** Upload straight from an open file from `position`, through a small pool of reused buffers. */
  readonly sourceFile?: { readonly handle: FileHandle; readonly position: number };
  /** Upload these bytes, held in memory: one write, no stream. */
  readonly sourceBuffer?: Buffer;
  readonly data: DataConnection;
  readonly dataTimeoutMs: number;
  readonly signal?: AbortSignal;
  readonly onProgress?: (bytes: number) => void;
  readonly logger: Logger;
  /**
   * Send the command through this pipelined owner instead of as a lockstep task. An abort then
   * closes the connection: with commands queued behind the transfer there is no ABOR fence
   * that keeps the replies in step.
   */
  readonly via?: PipelineHandle;
  /**
   * Send the data as soon as the (passive) data connection is up instead of after the 1xx:
   * the server reads it once it takes the command, so a small upload costs one round trip
   * instead of two. A refused command only wastes the bytes (the data connection is closed).
   */
  readonly earlyData?: boolean;
}

/**
 * Completes a transfer only when both sides say so (STYLE guideline 5): the end of the data
 * stream AND the final 2xx reply, in either order. While data flows the reply timeout is
 * handed to the data socket and given back when the data ends. An unexpected 3xx is fatal to
 * the connection. Aborts (signal, local stream error) send ABOR and, after the next completion
 * reply, NOOP as a fence, and skip every reply up to the NOOP's 200 so the connection stays
 * usable.
 */
export class TransferResolver {
  // parameters
  readonly #control: ControlChannel;
  readonly #spec: TransferSpec;
  // internal state
  #task: TaskControl<number> | undefined;
  #socket: Socket | undefined;
  #mayStart = false;
  #started = false;
  #dataDone = false;
  #finalReply: Reply | undefined;
  #aborting: Error | undefined;
  /** The NOOP fence has been sent (it waits for the first completion reply after ABOR). */
  #fenceSent = false;
  #localError: Error | undefined;
  #finished = false;
  #progressTimer: NodeJS.Timeout | undefined;
  /** Payload bytes counted from the stream (TLS sockets' byte counters include TLS framing). */
  #counted = 0;
  #lastProgress = -1;

  constructor(control: ControlChannel, spec: TransferSpec) {
    this.#control = control;
    this.#spec = spec;
    this.#mayStart = spec.earlyData === true && spec.direction === "upload";
  }

  /** Run the transfer; resolves with the number of payload bytes moved. */
  run(): Promise<number> {
    const { verb, arg, signal } = this.#spec;
    if (signal?.aborted) {
      this.#spec.data.close();
      return Promise.reject(abortError(signal, verb));
    }
    const onAbort = (): void => this.#abort(abortError(signal, verb));
    signal?.addEventListener("abort", onAbort, { once: true });
    const onReply = (reply: Reply): void => this.#onReply(reply);
    const onStart = (task: TaskControl<number>): void => this.#onStart(task);
    const done = this.#spec.via ? this.#spec.via.handle<number>(verb, arg, onReply, onStart) : this.#control.handle<number>(verb, arg, onReply, onStart);
    // A source may fail before the server is ready for data: abort then too (and never leave
    // its error unhandled).
    const source = this.#spec.source;
    const onSourceError = (err: Error): void => {
      this.#localError = err;
      if (!this.#started) this.#abort(err);
    };
    source?.once("error", onSourceError);
    const drained = done.catch(async (err: unknown) => {
      await this.#drainData();
      throw err;
    });
    return drained.finally(() => {
      this.#finished = true;
      source?.off("error", onSourceError);
      signal?.removeEventListener("abort", onAbort);
      this.#cleanup();
    });
  }

  #onStart(task: TaskControl<number>): void {
    // Settle flags synchronously: an abort after the task settled must not send ABOR into
    // the next command's conversation.
    this.#task = {
      resolve: (v) => { this.#finished = true; task.resolve(v); },
      reject: (e) => { this.#finished = true; task.reject(e); },
    };
    this.#spec.data.socket.then(
      (socket) => this.#onSocket(socket),
      (err: unknown) => this.#control.closeWithError(err instanceof Error ? err : new FtpConnectionError(String(err))),
    );
  }

  #onSocket(socket: Socket): void {
    if (this.#finished) {
      socket.destroy();
      return;
    }
    this.#socket = socket;
    socket.setTimeout(this.#spec.dataTimeoutMs);
    socket.on("timeout", () => {
      if (this.#dataDone || this.#aborting) return;
      this.#control.closeWithError(new FtpTimeoutError(
        `data connection stalled: nothing moved for ${this.#spec.dataTimeoutMs} ms during ${this.#spec.verb}`));
    });
    // Listen for the end at once: an empty file's EOF emits "end" before any reader is attached.
    socket.once("end", () => {
      if (this.#spec.direction === "download") this.#onDataDone();
    });
    socket.once("close", () => {
      if (this.#spec.direction !== "download" || this.#dataDone || this.#aborting || this.#finished) return;
      this.#control.closeWithError(new FtpConnectionError(`data connection closed before the end of data during ${this.#spec.verb}`));
    });
    socket.on("error", (err) => {
      // pipeline() re-throws a failed source into the socket: that is a local error, not the network's.
      if (this.#aborting || this.#finished || this.#localError) return;
      this.#control.closeWithError(new FtpConnectionError(`data connection during ${this.#spec.verb}: ${err.message}`, { cause: err }));
    });
    this.#maybeStartData();
  }

  #onReply(reply: Reply): void {
    if (this.#aborting) {
      // The fence: everything up to the NOOP's 200 belongs to the aborted transfer or ABOR.
      if (this.#fenceSent) {
        if (reply.code === 200) this.#task?.reject(this.#aborting);
      } else if (reply.code >= 200) {
        this.#fenceSent = true;
        this.#control.sendRaw("NOOP");
      }
      return;
    }
    if (reply.code < 200) {
      this.#mayStart = true;
      this.#maybeStartData();
      return;
    }
    if (reply.code >= 400) {
      this.#spec.data.close();
      this.#task?.reject(new FtpReplyError(reply.code, replyMessage(reply), this.#command()));
      return;
    }
    if (reply.code >= 300) {
      this.#control.closeWithError(new FtpConnectionError(
        `${this.#command()}: unexpected ${reply.code} ${replyMessage(reply)} during a transfer`,
        { cause: new ProtocolError("3xx reply to a transfer command") }));
      return;
    }
    this.#finalReply = reply;
    this.#mayStart = true;
    this.#maybeStartData();
    this.#maybeFinish();
  }

  #maybeStartData(): void {
    const socket = this.#socket;
    if (!socket || !this.#mayStart || this.#started || this.#aborting) return;
    this.#started = true;
    // From now the data socket's timeout governs; the control connection is silent meanwhile.
    if (!this.#finalReply) this.#control.setTimeoutEnabled(false);
    this.#startProgress();
    if (this.#spec.direction === "download") this.#startDownload(socket);
    else this.#startUpload(socket);
  }

  #startDownload(socket: Socket): void {
    const destination = this.#spec.destination;
    const receiver = this.#spec.data.receiver;
    const onLocalError = (err: Error): void => {
      this.#localError = err;
      this.#abort(err);
    };
    destination?.on("error", onLocalError);
    socket.once("close", () => {
      destination?.off("error", onLocalError);
      receiver?.detach();
    });
    if (receiver) {
      receiver.attach(destination, onLocalError);
      return;
    }
    if (!destination) throw new Error("download without a destination");
    socket.on("data", (chunk: Buffer) => {
      this.#counted += chunk.length;
    });
    // pipe() honours backpressure: the socket pauses while the destination is full.
    socket.pipe(destination, { end: false });
  }

  #startUpload(socket: Socket): void {
    const bytes = this.#spec.sourceBuffer;
    if (bytes) {
      // A small file needs neither a stream nor a pipeline (whose per-transfer setup cost more
      // CPU than the bytes on a 4 KiB file): one write and the end of data.
      this.#counted = bytes.length;
      socket.end(bytes, () => this.#onDataDone());
      return;
    }
    const file = this.#spec.sourceFile;
    if (file) {
      this.#pumpFile(socket, file.handle, file.position).then(
        () => this.#onDataDone(),
        (err: Error) => {
          if (this.#finished || this.#aborting || this.#control.closed) return;
          this.#localError = err;
          this.#abort(err);
        },
      );
      return;
    }
    const source = this.#spec.source;
    if (!source) throw new Error("upload without a source");
    const done = pipeline(source, socket);
    source.on("data", (chunk: Buffer | string) => {
      this.#counted += typeof chunk === "string" ? Buffer.byteLength(chunk) : chunk.length;
    });
    done.then(
      () => this.#onDataDone(),
      (err: Error) => {
        if (this.#finished || this.#aborting || this.#control.closed) return;
        // pipeline() also destroys the source when the socket closed first (the server or a
        // middlebox ended the data connection early): that "premature close" is the
        // network's, not a local read failure.
        const local = this.#localError && (this.#localError as NodeJS.ErrnoException).code !== "ERR_STREAM_PREMATURE_CLOSE" ? this.#localError : undefined;
        if (local) this.#abort(local); // the local source failed: abort, keep the connection
        else this.#control.closeWithError(new FtpConnectionError(`data connection during ${this.#spec.verb}: ${err.message}`, { cause: err }));
      },
    );
  }

  /**
   * Read the file into FILE_BUFFERS reused buffers and write them to the socket; a buffer is
   * read into again once the socket has handed it to the kernel (its write callback). No
   * allocation per chunk, and memory stays at a few hundred KiB however big the file.
   */
  async #pumpFile(socket: Socket, handle: FileHandle, position: number): Promise<void> {
    const free: Buffer[] = Array.from({ length: FILE_BUFFERS }, () => Buffer.allocUnsafe(FILE_BUFFER_SIZE));
    let wake: (() => void) | undefined;
    const release = (buffer: Buffer): void => {
      free.push(buffer);
      wake?.();
      wake = undefined;
    };
    const gone = (): boolean => socket.destroyed || this.#aborting !== undefined || this.#finished;
    for (;;) {
      while (free.length === 0 && !gone()) await new Promise<void>((resolve) => (wake = resolve));
      if (gone()) return;
      const buffer = free.pop() as Buffer;
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
      if (bytesRead === 0 || gone()) break;
      position += bytesRead;
      this.#counted += bytesRead;
      const chunk = bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead);
      if (!socket.write(chunk, () => release(buffer))) {
        await new Promise<void>((resolve) => {
          const done = (): void => {
            socket.off("drain", done);
            socket.off("close", done);
            resolve();
          };
          socket.once("drain", done);
          socket.once("close", done);
        });
      }
    }
    if (!gone()) await new Promise<void>((resolve) => socket.end(resolve));
  }

  #onDataDone(): void {
    if (this.#dataDone) return;
    this.#dataDone = true;
    // Back to the control connection's timeout while the final reply is awaited.
    this.#control.setTimeoutEnabled(true);
    this.#maybeFinish();
  }

  #maybeFinish(): void {
    if (!this.#dataDone || !this.#finalReply || this.#aborting || this.#finished) return;
    const bytes = this.#bytes();
    this.#reportProgress(bytes);
    this.#task?.resolve(bytes);
  }

  /**
   * The server or the network closed the control connection while a download's data was
   * still coming: read the data connection to its end (or its stall timeout, or an abort) so
   * the bytes the server sent before reach the destination and a retry resumes after them.
   * The call still fails: without the 226 the file is not known to be complete.
   */
  #drainData(): Promise<void> {
    const socket = this.#socket;
    if (this.#spec.direction !== "download" || !socket || socket.destroyed || !this.#started || this.#dataDone
      || this.#aborting || this.#localError || !this.#control.lostByPeer) return Promise.resolve();
    this.#finished = true; // no reply can come any more: nothing settles the task from here
    const signal = this.#spec.signal;
    return new Promise<void>((resolve) => {
      const stop = (): void => void socket.destroy();
      const done = (): void => {
        signal?.removeEventListener("abort", stop);
        resolve();
      };
      socket.once("end", done);
      socket.once("close", done);
      socket.once("timeout", stop);
      signal?.addEventListener("abort", stop, { once: true });
    });
  }

  #abort(reason: Error): void {
    if (this.#aborting || this.#finished || !this.#task) {
      if (!this.#task && !this.#finished) this.#spec.data.close();
      return;
    }
    this.#aborting = reason;
    if (this.#spec.via) {
      this.#spec.data.close();
      this.#task.reject(reason);
      return;
    }
    this.#spec.logger.debug({ command: this.#command(), reason: reason.message }, "ftp transfer aborted: ABOR");
    // Upload: ABOR before closing, so the server knows the short file is not complete.
    // Download: close first, so a server blocked writing to us notices (vsftpd reads ABOR
    // only between transfers unless async_abor_enable is set).
    if (this.#spec.direction === "upload") {
      this.#control.sendRaw("ABOR");
      this.#spec.data.close();
    } else {
      this.#spec.data.close();
      this.#control.sendRaw("ABOR");
    }
    // NOOP goes out only once the server has answered (the transfer's end or ABOR's reply):
    // pure-ftpd reads ABOR mid-transfer with one read() and drops whatever else it got, so a
    // NOOP sent with ABOR would never be answered.
    this.#control.setTimeoutEnabled(true);
  }

  #startProgress(): void {
    const onProgress = this.#spec.onProgress;
    if (!onProgress) return;
    this.#progressTimer = setInterval(() => this.#reportProgress(this.#bytes()), PROGRESS_INTERVAL_MS);
    this.#progressTimer.unref();
  }

  #reportProgress(bytes: number): void {
    if (!this.#spec.onProgress || bytes === this.#lastProgress) return;
    this.#lastProgress = bytes;
    try {
      this.#spec.onProgress(bytes);
    } catch (err) {
      this.#spec.logger.warn({ err: (err as Error).message }, "onProgress threw; ignored");
    }
  }

  #bytes(): number {
    return this.#spec.data.receiver?.received ?? this.#counted;
  }

  #cleanup(): void {
    if (this.#progressTimer) clearInterval(this.#progressTimer);
    this.#spec.data.close();
  }

  #command(): string {
    return this.#spec.arg ? `${this.#spec.verb} ${this.#spec.arg}` : this.#spec.verb;
  }
}
