import type { FileHandle } from "node:fs/promises";
import type { Socket } from "node:net";
import { STREAM_CHUNK_BYTES } from "./limits.js";

/** Write `data` and wait until the socket has handed it to the kernel (or failed, or was aborted). */
function writeFully(socket: Socket, data: Buffer, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => finish(signal.reason instanceof Error ? signal.reason : new Error("aborted"));
    const onClose = (): void => finish(new Error("data connection closed by the client"));
    const finish = (err?: Error | null): void => {
      signal.removeEventListener("abort", onAbort);
      socket.off("close", onClose);
      if (err) reject(err);
      else resolve();
    };
    if (signal.aborted) return onAbort();
    if (socket.destroyed) return onClose();
    signal.addEventListener("abort", onAbort, { once: true });
    socket.once("close", onClose);
    socket.write(data, (err) => finish(err ?? null));
  });
}

/**
 * Send a file from `start` to the socket with two reused buffers: the next chunk is read
 * while the previous one is being written, and a buffer is only refilled after the
 * kernel has taken its bytes. A pipeline of fresh 1 MiB chunks leaves tens of MB of dead
 * buffers for the GC to find later; this keeps a 1 GiB download at constant memory.
 * Returns the bytes sent. `digest`, when given, sees every byte read, in order.
 */
export async function sendFile(
  handle: FileHandle, start: number, socket: Socket, signal: AbortSignal, onProgress: (bytes: number) => void,
  digest?: { update(chunk: Buffer): void },
): Promise<number> {
  const buffers = [Buffer.allocUnsafe(STREAM_CHUNK_BYTES), Buffer.allocUnsafe(STREAM_CHUNK_BYTES)] as const;
  let position = start;
  let sent = 0;
  let pending: Promise<void> = Promise.resolve();
  for (let i = 0; ; i++) {
    signal.throwIfAborted();
    const buf = buffers[i % 2]!;
    const { bytesRead } = await handle.read(buf, 0, buf.length, position);
    await pending; // the write of the other buffer; this one's last write finished an iteration ago
    if (bytesRead === 0) break;
    digest?.update(buf.subarray(0, bytesRead));
    position += bytesRead;
    pending = writeFully(socket, buf.subarray(0, bytesRead), signal).then(() => {
      sent += bytesRead;
      onProgress(sent);
    });
    pending.catch(() => undefined); // awaited on the next iteration; avoid an unhandled rejection meanwhile
  }
  await new Promise<void>((resolve, reject) => {
    socket.end(() => resolve());
    socket.once("error", reject);
  });
  return sent;
}
