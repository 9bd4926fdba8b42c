import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { open, readFile, writeFile } from "node:fs/promises";
import { connect, createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { adoptReader, receiveFile, type ReceiveOptions } from "../../src/server/receiveFile.js";
import { pseudoRandomBytes, tempDir } from "../helpers/tmp.js";

/** A loopback connection: the accepted (server) side and the dialled (client) side. */
async function socketPair(server: Server): Promise<{ accepted: Socket; client: Socket }> {
  const address = server.address();
  assert.ok(address && typeof address === "object");
  const acceptedP = once(server, "connection") as Promise<[Socket]>;
  const client = connect(address.port, "127.0.0.1");
  await once(client, "connect");
  const [accepted] = await acceptedP;
  return { accepted, client };
}

/** Send `data` in pieces of `piece` bytes and end with FIN. */
async function sendAll(client: Socket, data: Buffer, piece = 100_000): Promise<void> {
  for (let i = 0; i < data.length; i += piece) {
    if (!client.write(data.subarray(i, i + piece))) await once(client, "drain");
  }
  client.end();
}

describe("receiveFile: an upload from a data socket into a file", () => {
  let server: Server;
  let dir: { path: string; remove: () => Promise<void> };
  const options = (overrides: Partial<ReceiveOptions> = {}): ReceiveOptions => ({
    start: 0, signal: new AbortController().signal, stallTimeoutMs: 5000, onProgress: () => undefined, ...overrides,
  });

  before(async () => {
    dir = await tempDir();
    server = createServer();
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
  });
  after(async () => {
    server.close();
    await dir.remove();
  });

  it("adopts an accepted plain socket into a reused buffer on this Node (the fast path is live)", async () => {
    const { accepted, client } = await socketPair(server);
    const buffer = Buffer.alloc(1024);
    const seen: Buffer[] = [];
    const reader = adoptReader(accepted, buffer, (n, b) => {
      assert.equal(b, buffer, "each chunk arrives in the one buffer given");
      seen.push(Buffer.from(b.subarray(0, n)));
      return true;
    });
    assert.ok(reader, `adoptReader found no socket handle on Node ${process.version}: uploads fall back to the slower stream path`);
    const ended = once(reader, "end");
    client.end(Buffer.from("hello, reused buffer"));
    await ended;
    assert.equal(Buffer.concat(seen).toString(), "hello, reused buffer");
    reader.destroy();
    accepted.destroy();
  });

  for (const variant of [
    { name: "synchronous writes", slowWriteMs: 10_000, onPool: false },
    { name: "every write after the first on the thread pool (slowWriteMs 0)", slowWriteMs: 0, onPool: true },
  ]) {
    it(`${variant.name}: 3 MB arrive byte for byte and are counted`, async () => {
      const path = join(dir.path, `sync-${variant.slowWriteMs}.bin`);
      const data = pseudoRandomBytes(3_000_000, 7);
      const handle = await open(path, "w");
      let poolWrites = 0;
      const poolWrite = handle.write.bind(handle) as (...args: unknown[]) => Promise<unknown>;
      // Counts the thread-pool writes; more than 1 MiB (the read buffer) means at least three reads.
      (handle as unknown as { write: (...args: unknown[]) => Promise<unknown> }).write = (...args) => (poolWrites++, poolWrite(...args));
      const { accepted, client } = await socketPair(server);
      let progress = 0;
      const done = receiveFile(accepted, handle, options({ slowWriteMs: variant.slowWriteMs, onProgress: (n) => (progress = n) }));
      await sendAll(client, data);
      assert.equal(await done, data.length);
      assert.equal(progress, data.length);
      assert.equal(poolWrites > 0, variant.onPool, `thread-pool writes: ${poolWrites}`);
      await handle.close();
      assert.ok((await readFile(path)).equals(data));
    });
  }

  it("resumes at an offset and appends after the end", async () => {
    const path = join(dir.path, "offsets.bin");
    await writeFile(path, "0123456789");
    let handle = await open(path, "r+");
    let pair = await socketPair(server);
    let done = receiveFile(pair.accepted, handle, options({ start: 4 }));
    await sendAll(pair.client, Buffer.from("abc"));
    assert.equal(await done, 3);
    await handle.close();
    assert.equal(await readFile(path, "latin1"), "0123abc789");
    handle = await open(path, "a");
    pair = await socketPair(server);
    done = receiveFile(pair.accepted, handle, options({ start: null }));
    await sendAll(pair.client, Buffer.from("XY"));
    assert.equal(await done, 2);
    await handle.close();
    assert.equal(await readFile(path, "latin1"), "0123abc789XY");
  });

  it("falls back to the stream path when bytes were already buffered, and keeps them", async () => {
    const path = join(dir.path, "buffered.bin");
    const { accepted, client } = await socketPair(server);
    client.write("early bytes|");
    await once(accepted, "readable"); // now held in the socket's own buffer
    assert.ok(accepted.readableLength > 0);
    assert.equal(adoptReader(accepted, Buffer.alloc(16), () => true), undefined);
    const handle = await open(path, "w");
    const done = receiveFile(accepted, handle, options());
    await sendAll(client, Buffer.from("late bytes"));
    assert.equal(await done, 22);
    await handle.close();
    assert.equal(await readFile(path, "latin1"), "early bytes|late bytes");
  });

  it("a reset before FIN rejects: a partial upload is never complete", async () => {
    const handle = await open(join(dir.path, "reset.bin"), "w");
    const { accepted, client } = await socketPair(server);
    const done = receiveFile(accepted, handle, options());
    client.write(pseudoRandomBytes(200_000, 3));
    await new Promise((r) => setTimeout(r, 50));
    client.resetAndDestroy();
    await assert.rejects(done, /ECONNRESET|closed before the end/);
    await handle.close();
  });

  it("a stall rejects after stallTimeoutMs, and an abort rejects with its reason", async () => {
    let handle = await open(join(dir.path, "stall.bin"), "w");
    let pair = await socketPair(server);
    pair.client.write("a little");
    await assert.rejects(receiveFile(pair.accepted, handle, options({ stallTimeoutMs: 200 })), /stalled/);
    pair.client.destroy();
    await handle.close();

    handle = await open(join(dir.path, "abort.bin"), "w");
    pair = await socketPair(server);
    const abort = new AbortController();
    const done = receiveFile(pair.accepted, handle, options({ signal: abort.signal }));
    pair.client.write("a little");
    setTimeout(() => abort.abort(new Error("ABOR from the client")), 50);
    await assert.rejects(done, /ABOR from the client/);
    pair.client.destroy();
    await handle.close();
  });

  it("a write error (here: a read-only file) rejects with the file system's error and drops the connection", async () => {
    const path = join(dir.path, "readonly.bin");
    await writeFile(path, "");
    const handle = await open(path, "r");
    const { accepted, client } = await socketPair(server);
    const closed = once(client, "close");
    const done = receiveFile(accepted, handle, options());
    client.on("error", () => undefined);
    client.write("data");
    await assert.rejects(done, /EBADF/);
    await closed; // the server side let go of the connection
    await handle.close();
  });
  it("a reset that arrives with data still unread rejects (libuv must not pass it off as an end)", async () => {
    // The accepted socket is adopted only after the client's bytes and its RST are queued, so
    // the first wakeup sees data and POLLHUP together: the case where libuv reported EOF.
    const paused = createServer({ pauseOnConnect: true });
    paused.listen(0, "127.0.0.1");
    await once(paused, "listening");
    try {
      for (const size of [1000, 100_000]) {
        const { accepted, client } = await socketPair(paused);
        client.on("error", () => undefined);
        let seen = 0;
        client.write(pseudoRandomBytes(size, 5));
        client.resetAndDestroy();
        await once(client, "close"); // on loopback the RST is in the server's queue once close() returned
        const handle = await open(join(dir.path, `reset-${size}.bin`), "w");
        const done = receiveFile(accepted, handle, options({ onProgress: (n) => (seen = n) }));
        await assert.rejects(done, /ECONNRESET|closed before the end/, `a reset after ${size} bytes was reported complete (${seen} bytes)`);
        await handle.close();
      }
    } finally {
      paused.close();
    }
  });
});
