import type { FileHandle } from "node:fs/promises";
import type { Socket } from "node:net";
import type { Receiver } from "./dataChannel.js";

// Four 1 MiB buffers: the kernel reads straight into them (no copy, no allocation per read)
// and each full one becomes a single positional write.
const BUFFER_SIZE = 1024 * 1024;
const MIN_READ_SPACE = 64 * 1024;
const MAX_WRITES_IN_FLIGHT = 3;

/**
 * Receives a download straight into a file (downloadFile): on a plain passive connection
 * socket reads land in a pooled 1 MiB buffer at its fill offset; a buffer with less than
 * 64 KiB left is written at its file position while reading goes on into the next. A TLS
 * socket has no `onread` hook, so its records are copied into the same buffers from 'data'
 * events (feedFrom). The socket pauses while MAX_WRITES_IN_FLIGHT writes are pending
 * (backpressure from the disk).
 */
export class FileReceiver implements Receiver {
  // parameters
  readonly #handle: FileHandle;
  // internal state
  #position: number;
  #current: Buffer = Buffer.allocUnsafe(BUFFER_SIZE);
  #fill = 0;
  readonly #free: Buffer[] = [];
  #inFlight = 0;
  #socket: Socket | undefined;
  #onError: ((err: Error) => void) | undefined;
  #failed: Error | undefined;
  #idle: (() => void) | undefined;
  /** Bytes come from 'data' events (TLS), not from onread. */
  #feed = false;
  #received = 0;
  #closed = false;

  constructor(handle: FileHandle, position: number) {
    this.#handle = handle;
    this.#position = position;
  }

  readonly onread = {
    buffer: (): Uint8Array => this.#current.subarray(this.#fill),
    callback: (n: number): boolean => this.#onRead(n),
  };

  /** Payload bytes received so far. */
  get received(): number {
    return this.#received;
  }

  bind(socket: Socket): void {
    this.#socket = socket;
  }

  /**
   * Read `socket`, which has no onread hook (TLS), through 'data' events from attach() on.
   * One copy of each 16 KiB record into the pooled buffers costs less CPU than a pipe into
   * an fs.WriteStream, whose per-chunk bookkeeping ran for each of 65,536 records per GiB.
   */
  feedFrom(socket: Socket): void {
    this.#socket = socket;
    this.#feed = true;
  }

  attach(_destination: unknown, onError: (err: Error) => void): void {
    this.#onError = onError;
    if (this.#failed) onError(this.#failed);
    if (this.#feed) this.#socket?.on("data", (chunk: Buffer) => this.#push(chunk));
  }

  detach(): void {
    // Nothing to stop: bytes go to the file as they arrive; finish() writes the rest.
  }

  /** Write what is left in the current buffer and wait for every write; rejects with the first write error. */
  async finish(): Promise<void> {
    this.#flush();
    while (this.#inFlight > 0) await new Promise<void>((resolve) => (this.#idle = resolve));
    if (this.#failed) throw this.#failed;
  }

  /** No more bytes: a late 'data' event (an aborted transfer's leftovers) is dropped, not written to a closed file. */
  close(): void {
    this.#closed = true;
  }

  #push(chunk: Buffer): void {
    if (this.#closed || this.#failed) return; // a write failed: the transfer is being aborted
    this.#received += chunk.length;
    for (let offset = 0; offset < chunk.length;) {
      const copied = chunk.copy(this.#current, this.#fill, offset);
      this.#fill += copied;
      offset += copied;
      if (this.#fill === this.#current.length) this.#flush();
    }
    if (this.#inFlight >= MAX_WRITES_IN_FLIGHT) this.#socket?.pause();
  }

  #onRead(n: number): boolean {
    this.#received += n;
    this.#fill += n;
    if (this.#current.length - this.#fill >= MIN_READ_SPACE) return true;
    this.#flush();
    if (this.#inFlight < MAX_WRITES_IN_FLIGHT) return true;
    this.#socket?.pause();
    return false;
  }

  #flush(): void {
    if (this.#fill === 0 || this.#failed) return;
    const buffer = this.#current;
    const length = this.#fill;
    const position = this.#position;
    this.#position += length;
    this.#current = this.#free.pop() ?? Buffer.allocUnsafe(BUFFER_SIZE);
    this.#fill = 0;
    this.#inFlight++;
    writeAll(this.#handle, buffer, length, position).then(
      () => this.#written(buffer),
      (err: Error) => {
        this.#failed ??= err;
        this.#onError?.(err);
        this.#written(buffer);
      },
    );
  }

  #written(buffer: Buffer): void {
    this.#inFlight--;
    this.#free.push(buffer);
    if (this.#inFlight === 0) {
      this.#idle?.();
      this.#idle = undefined;
    }
    if (this.#inFlight < MAX_WRITES_IN_FLIGHT && this.#socket?.isPaused() && !this.#failed) this.#socket.resume();
  }
}

/** Write `length` bytes of `buffer` at `position`, looping over short writes. */
async function writeAll(handle: FileHandle, buffer: Buffer, length: number, position: number): Promise<void> {
  let done = 0;
  while (done < length) {
    const { bytesWritten } = await handle.write(buffer, done, length - done, position + done);
    done += bytesWritten;
  }
}
