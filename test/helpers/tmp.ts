import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";

/** A fresh temporary directory and its remover. */
export async function tempDir(prefix = "ferry-test-"): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** SHA-256 of a file, streamed. */
export async function sha256File(path: string): Promise<string> {
  const h = createHash("sha256");
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest("hex");
}

/** Deterministic pseudo-random bytes (xorshift), so binary test data needs no fixture file. */
export function pseudoRandomBytes(length: number, seed = 1): Buffer {
  const buf = Buffer.alloc(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    buf[i] = x & 0xff;
  }
  return buf;
}

/** path → inode of every file under root: an upload publishes a new file (rename), so a resent file has a new inode. */
export async function inodes(root: string, rel = ""): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const e of await readdir(join(root, rel), { withFileTypes: true })) {
    const path = rel === "" ? e.name : `${rel}/${e.name}`;
    if (e.isDirectory()) for (const [p, i] of await inodes(root, path)) out.set(p, i);
    else out.set(path, (await stat(join(root, path))).ino);
  }
  return out;
}
