import { writeSync } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import { Socket } from "node:net";
import { performance } from "node:perf_hooks";
import type { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { TLSSocket } from "node:tls";
import { STREAM_CHUNK_BYTES } from "./limits.js";
import { collectYoungGarbage, SCAVENGE_EVERY_BYTES } from "./memory.js";

/** Size of the one buffer an upload is read into: fewer reads and writes per byte than vsftpd's 64 KiB (bench/README.md). */
export const RECEIVE_BUFFER_BYTES = 1024 * 1024;
/** A synchronous write slower than this means the disk no longer absorbs writes in its cache. */
export const SLOW_WRITE_MS = 10;

export interface ReceiveOptions {
  /** Byte offset of the first write; null appends at the file's end (O_APPEND). */
  readonly start: number | null;
  readonly signal: AbortSignal;
  /** No byte for this long fails the upload ("data connection stalled"). */
  readonly stallTimeoutMs: number;
  readonly onProgress: (bytes: number) => void;
  /** From the first write slower than this on, each write goes to the thread pool. Default SLOW_WRITE_MS. */
  readonly slowWriteMs?: number;
  /** Sees every byte written, in file order (a running digest); the chunk is only valid during the call. */
  readonly onBytes?: (chunk: Buffer) => void;
}

type OnRead = (nread: number, buffer: Buffer) => boolean | undefined;

/**
 * Move a plain TCP socket that has not delivered any data yet into a new Socket that reads
 * into one reused `buffer` (net.Socket's documented `onread` option) and hands each chunk
 * to `onRead`. Returns undefined when that is not possible: a TLS socket, data already
 * buffered, or a runtime whose socket internals differ; the caller then reads the socket as
 * a stream.
 *
 * Node offers `onread` only to sockets it creates for net.connect; an accepted socket
 * always reads into a fresh 64 KiB buffer per chunk. Receiving a 1 GiB upload that way costs
 * about twice the CPU of a reused buffer (cold memory for every chunk, then garbage), and
 * ferry's server received at ~0.8 of vsftpd's rate. The move relies on undocumented but
 * long-stable parts of net.Socket: the `_handle` property, its `reading` flag and the
 * `handle` constructor option (which Node's own net.Server uses for accepted sockets); they
 * are checked before use, and test/server/receiveFile.test.ts fails if the move stops working.
 */
export function adoptReader(socket: Socket, buffer: Buffer, onRead: OnRead): Socket | undefined {
  if (socket instanceof TLSSocket || socket.destroyed || socket.readableLength > 0 || socket.readableEnded) return undefined;
  // Not in @types/node: the libuv stream handle under a net.Socket.
  const owner = socket as unknown as { _handle?: { readStop?: () => number; useUserBuffer?: unknown; reading?: boolean } | null };
  const handle = owner._handle;
  if (!handle || typeof handle.readStop !== "function" || typeof handle.useUserBuffer !== "function" || typeof handle.reading !== "boolean") return undefined;
  if (handle.readStop() !== 0) return undefined;
  handle.reading = false; // as Socket.pause does: the new Socket starts reading only if this is false
  owner._handle = null; // the old Socket no longer reads or closes it; destroying it only updates its server's count
  let reader: Socket;
  try {
    reader = new Socket({ handle, onread: { buffer, callback: onRead } } as ConstructorParameters<typeof Socket>[0]);
  } catch {
    owner._handle = handle; // give it back: the stream path resumes reading it
    return undefined;
  }
  socket.setTimeout(0); // the stall timer moves to the reader
  return reader;
}

/**
 * Write an upload's bytes to `handle` as they arrive; resolves with the bytes written once
 * the client ends the data stream with FIN, rejects on a reset, a stall, an abort or a
 * write error. Only an orderly end marks the upload complete; a reset or an abort leaves a
 * partial file that must not be reported as done.
 *
 * On a plain connection the bytes are read into one reused buffer (adoptReader) and
 * written synchronously while writes complete at page-cache speed, as vsftpd does. A write
 * that blocks (the page cache flushing, a slow or network disk) would stall every other
 * session of this process, so from the first write slower than `slowWriteMs` on, reading
 * pauses while each chunk is written on the thread pool. Other sockets (TLS) are read as a
 * stream into an fs.WriteStream.
 */
export function receiveFile(socket: Socket, handle: FileHandle, options: ReceiveOptions): Promise<number> {
  const slowWriteMs = options.slowWriteMs ?? SLOW_WRITE_MS;
  let position = options.start;
  let written = 0;
  let slow = false;
  let reader: Socket | undefined;
  return new Promise<number>((resolve, reject) => {
    let settled = false;
    const finish = (err: Error | undefined): void => {
      if (settled) return;
      settled = true;
      options.signal.removeEventListener("abort", onAbort);
      reader?.destroy();
      if (err) reject(err);
      else resolve(written);
    };
    const advance = (n: number): void => {
      if (position !== null) position += n;
      written += n;
      options.onProgress(written);
    };
    const onRead: OnRead = (n, buffer) => {
      if (settled) return false;
      if (slow) {
        writeAllAsync(handle, buffer, n, position).then(() => {
          options.onBytes?.(buffer.subarray(0, n));
          advance(n);
          if (!settled) reader?.resume();
        }).catch((err: Error) => finish(err));
        return false; // the buffer is busy until the write is done
      }
      const began = performance.now();
      try {
        writeAll(handle.fd, buffer, n, position);
      } catch (err) {
        finish(err as Error);
        return false;
      }
      options.onBytes?.(buffer.subarray(0, n));
      advance(n);
      if (performance.now() - began > slowWriteMs) slow = true;
      if (n < buffer.length) {
        // libuv (uv__stream_io) reports EOF without another read() when a read came up short
        // in the same wakeup as POLLHUP, and an RST raises POLLHUP: a reset would pass for a
        // FIN and a cut upload be published. Stopping reading until the next loop turn makes
        // the next wakeup read() again, which returns ECONNRESET after an RST and 0 after a FIN.
        setImmediate(resumeReading);
        return false;
      }
      return true;
    };
    const resumeReading = (): void => {
      if (!settled) reader?.resume();
    };
    const onAbort = (): void => finish(options.signal.reason instanceof Error ? options.signal.reason : new Error("aborted"));
    if (options.signal.aborted) return onAbort();
    options.signal.addEventListener("abort", onAbort, { once: true });

    reader = adoptReader(socket, Buffer.allocUnsafe(RECEIVE_BUFFER_BYTES), onRead);
    if (!reader) {
      streamToFile(socket, handle, { ...options, onProgress: (n) => options.onProgress((written = n)) })
        .then(() => finish(undefined), (err: Error) => finish(err));
      return;
    }
    reader.setTimeout(options.stallTimeoutMs, () => finish(new Error("data connection stalled")));
    reader.once("end", () => finish(undefined));
    reader.once("close", () => finish(new Error("data connection closed before the end of the upload")));
    reader.on("error", (err) => finish(err));
  });
}

/**
 * The stream path: `socket` piped (through `transform`, e.g. ASCII line-end conversion) into a
 * WriteStream at `start` (null: appending); resolves with the bytes written, rejects unless
 * the socket ended with FIN.
 */
export async function streamToFile(socket: Socket, handle: FileHandle, options: Omit<ReceiveOptions, "stallTimeoutMs" | "slowWriteMs"> & { transform?: Transform }): Promise<number> {
  const { start, signal, onProgress, transform, onBytes } = options;
  // With a transform the file holds its output, not the socket's bytes: nothing to digest.
  if (onBytes && transform) throw new Error("streamToFile: onBytes cannot see what a transform writes");
  const file = handle.createWriteStream({ autoClose: false, highWaterMark: STREAM_CHUNK_BYTES, ...(start === null ? {} : { start }) });
  let clean = false;
  socket.once("end", () => (clean = true));
  let sinceScavenge = 0;
  socket.on("data", (chunk: Buffer) => {
    onBytes?.(chunk);
    sinceScavenge += chunk.length;
    if (sinceScavenge >= SCAVENGE_EVERY_BYTES) {
      // The chunks die as soon as they are on disk, but V8 only frees their off-heap memory
      // after tens of MB have piled up; a scavenge keeps the server's RSS flat.
      sinceScavenge = 0;
      collectYoungGarbage();
    }
  });
  file.on("drain", () => onProgress(file.bytesWritten));
  try {
    if (transform) await pipeline(socket, transform, file, { signal });
    else await pipeline(socket, file, { signal });
  } finally {
    file.destroy(); // with autoClose off the stream never ends on its own, and handle.close() would wait for it
  }
  onProgress(file.bytesWritten);
  if (!clean) throw new Error("data connection did not end cleanly");
  return file.bytesWritten;
}

/** Write the first `length` bytes of `buffer` at `position` (null: at the file position); a short write continues. */
function writeAll(fd: number, buffer: Buffer, length: number, position: number | null): void {
  let offset = 0;
  while (offset < length) {
    offset += writeSync(fd, buffer, offset, length - offset, position === null ? null : position + offset);
  }
}

/** writeAll on the thread pool. */
async function writeAllAsync(handle: FileHandle, buffer: Buffer, length: number, position: number | null): Promise<void> {
  let offset = 0;
  while (offset < length) {
    offset += (await handle.write(buffer, offset, length - offset, position === null ? null : position + offset)).bytesWritten;
  }
}
