import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { connect } from "node:net";
import { once } from "node:events";
import { lstat, rename, stat, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Authenticator, DigestCache, FileSystem, fileState, FtpServer } from "../../src/server/index.js";
import { hasFineTimestamps } from "../../src/server/timestampProbe.js";
import { DirHandle } from "../../src/server/confined.js";
import { tempDir, pseudoRandomBytes } from "../helpers/tmp.js";
import { RawClient, readData } from "./rawClient.js";

const sha256 = (b: Buffer): string => createHash("sha256").update(b).digest("hex");
const sha1 = (b: Buffer): string => createHash("sha1").update(b).digest("hex");

/** The hex digest in a 213 HASH reply ("SHA-256 0-n <hex> <name>" after the code). */
function hashOf(reply: { code: number; lines: readonly string[] } | undefined): string {
  assert.equal(reply?.code, 213, `HASH: ${reply?.code} ${reply?.lines.join(" ")}`);
  return reply!.lines[0]!.split(" ")[2]!;
}

async function startServer(t: { after: (fn: () => unknown) => void }): Promise<{ root: string; port: number; digests: DigestCache }> {
  const tmp = await tempDir("ferry-digest-cache-");
  t.after(() => tmp.remove());
  const digests = new DigestCache();
  const authenticator = await Authenticator.create({ root: tmp.path, users: [{ name: "user", password: "pass" }] });
  const server = new FtpServer({ authenticator, host: "127.0.0.1", port: 0, digests });
  const port = await server.listen();
  t.after(() => server.close(0));
  return { root: tmp.path, port, digests };
}

async function stor(client: RawClient, name: string, bytes: Buffer): Promise<void> {
  const dataPort = await client.pasv();
  const data = connect({ host: "127.0.0.1", port: dataPort });
  await once(data, "connect");
  const pre = await client.send(`STOR ${name}`);
  assert.ok([125, 150].includes(pre?.code ?? 0), `STOR ${name}: ${pre?.code}`);
  data.end(bytes);
  const done = await client.next();
  assert.equal(done?.code, 226, `STOR ${name}: ${done?.code} ${done?.lines.join(" ")}`);
}

async function retr(client: RawClient, name: string): Promise<Buffer> {
  const dataPort = await client.pasv();
  const received = readData(dataPort);
  const pre = await client.send(`RETR ${name}`);
  assert.ok([125, 150].includes(pre?.code ?? 0), `RETR ${name}: ${pre?.code}`);
  const bytes = await received;
  assert.equal((await client.next())?.code, 226);
  return bytes;
}

/** Whether this machine's temp filesystem has fine timestamps (then uploads are remembered). */
async function fineTimestamps(dir: string): Promise<boolean> {
  const fs = await FileSystem.open(dir);
  const handle = await DirHandle.open(fs.root, () => true);
  assert.ok(handle);
  try {
    return await hasFineTimestamps(handle);
  } finally {
    await handle.close();
  }
}

describe("DigestCache", () => {
  it("answers only for the exact state and algorithm it was told, and keeps a bounded number", () => {
    const cache = new DigestCache(2);
    cache.remember("1:2:3:4:5", "SHA-256", "aa");
    assert.equal(cache.lookup("1:2:3:4:5", "SHA-256"), "aa");
    assert.equal(cache.lookup("1:2:3:4:5", "SHA-1"), undefined);
    assert.equal(cache.lookup("1:2:3:4:6", "SHA-256"), undefined, "another ctime is another state");
    cache.remember("1:2:3:4:5", "SHA-1", "bb");
    cache.remember("9:9:9:9:9", "SHA-256", "cc");
    cache.remember("8:8:8:8:8", "SHA-256", "dd");
    assert.equal(cache.size, 2);
    assert.equal(cache.lookup("1:2:3:4:5", "SHA-256"), undefined, "the oldest entry went first");
    assert.equal(cache.lookup("8:8:8:8:8", "SHA-256"), "dd");
  });

  it("keeps a fresh state only on a device whose timestamps were probed fine; an old one always", async (t) => {
    const tmp = await tempDir("ferry-digest-racy-");
    t.after(() => tmp.remove());
    const file = join(tmp.path, "f");
    await writeFile(file, "x");
    const st = await lstat(file, { bigint: true });
    const cache = new DigestCache();
    assert.equal(cache.canKeep(st, Date.now()), false, "a file changed within the last tick may change again unseen on a coarse filesystem");
    assert.equal(cache.canKeep(st, Number(st.ctimeNs / 1_000_000n) + 60_000), true, "a state read long after the last change is safe anywhere");
    const fine = await fineTimestamps(tmp.path);
    const fs = await FileSystem.open(tmp.path);
    const dir = await DirHandle.open(fs.root, () => true);
    assert.ok(dir);
    await cache.learn(st.dev, dir);
    await dir.close();
    assert.equal(cache.knows(st.dev), true);
    assert.equal(cache.canKeep(st, Date.now()), fine);
  });
});

describe("ferry serve: HASH after a transfer answers the bytes on disk", () => {
  it("a file changed by another writer after STOR gets the new digest, even with its size and mtime kept", async (t) => {
    const { root, port, digests } = await startServer(t);
    const client = await RawClient.login(port);
    t.after(() => client.close());
    await writeFile(join(root, "seen.bin"), "x");
    hashOf(await client.send("HASH seen.bin")); // the client checks what it sends: uploads compute their digest
    const sent = pseudoRandomBytes(64 * 1024 + 7, 1);
    await stor(client, "f.bin", sent);
    const published = await stat(join(root, "f.bin"), { bigint: true });
    if (await fineTimestamps(root)) {
      assert.equal(digests.lookup(fileState(published), "SHA-256"), sha256(sent), "the upload's digest is kept for the file it wrote");
    }
    assert.equal(hashOf(await client.send("HASH f.bin")), sha256(sent));

    // Another writer, same size.
    const other = pseudoRandomBytes(sent.length, 2);
    await writeFile(join(root, "f.bin"), other);
    assert.equal(hashOf(await client.send("HASH f.bin")), sha256(other));

    // Same size and the mtime put back (a whole second, which utimes can set exactly): only the ctime tells.
    assert.equal((await client.send("MFMT 20200101000000 f.bin"))?.code, 213);
    assert.equal(hashOf(await client.send("HASH f.bin")), sha256(other)); // read, and remembered
    const before = await stat(join(root, "f.bin"), { bigint: true });
    const fourth = pseudoRandomBytes(sent.length, 4);
    await writeFile(join(root, "f.bin"), fourth);
    await utimes(join(root, "f.bin"), 1577836800, 1577836800);
    const after = await stat(join(root, "f.bin"), { bigint: true });
    assert.deepEqual([after.ino, after.size, after.mtimeNs], [before.ino, before.size, before.mtimeNs]);
    assert.equal(hashOf(await client.send("HASH f.bin")), sha256(fourth));

    // Replaced by another file under the same name (a new inode).
    const third = pseudoRandomBytes(sent.length, 3);
    await writeFile(join(root, "g.tmp"), third);
    await rename(join(root, "g.tmp"), join(root, "f.bin"));
    assert.equal(hashOf(await client.send("HASH f.bin")), sha256(third));

    // Another algorithm is never answered from a SHA-256 entry.
    assert.equal((await client.send("OPTS HASH SHA-1"))?.code, 200);
    assert.equal(hashOf(await client.send("HASH f.bin")), sha1(third));
  });

  it("a file changed after a RETR gets the new digest", async (t) => {
    const { root, port } = await startServer(t);
    const client = await RawClient.login(port);
    t.after(() => client.close());
    const first = pseudoRandomBytes(10_000, 4);
    await writeFile(join(root, "d.bin"), first);
    assert.equal(hashOf(await client.send("HASH d.bin")), sha256(first));
    assert.deepEqual(await retr(client, "d.bin"), first);
    assert.equal(hashOf(await client.send("HASH d.bin")), sha256(first));
    const changed = Buffer.from(first);
    changed[5_000] = changed[5_000]! ^ 0xff;
    await writeFile(join(root, "d.bin"), changed);
    assert.equal(hashOf(await client.send("HASH d.bin")), sha256(changed));
    // A second session's upload over it, then HASH from the first.
    const other = await RawClient.login(port);
    t.after(() => other.close());
    const again = pseudoRandomBytes(10_000, 5);
    await stor(other, "d.bin", again);
    assert.equal(hashOf(await client.send("HASH d.bin")), sha256(again));
  });

  it("an upload appended to after its STOR is hashed whole", async (t) => {
    const { root, port } = await startServer(t);
    const client = await RawClient.login(port);
    t.after(() => client.close());
    await writeFile(join(root, "seen.bin"), "x");
    hashOf(await client.send("HASH seen.bin"));
    const part = pseudoRandomBytes(5000, 6);
    await stor(client, "a.bin", part);
    assert.equal(hashOf(await client.send("HASH a.bin")), sha256(part));
    const more = pseudoRandomBytes(300, 7);
    const dataPort = await client.pasv();
    const data = connect({ host: "127.0.0.1", port: dataPort });
    await once(data, "connect");
    assert.ok([125, 150].includes((await client.send("APPE a.bin"))?.code ?? 0));
    data.end(more);
    assert.equal((await client.next())?.code, 226);
    assert.equal(hashOf(await client.send("HASH a.bin")), sha256(Buffer.concat([part, more])));
  });
});
