import { once } from "node:events";
import { lstat, readdir, readFile } from "node:fs/promises";
import { createHash } from "node:crypto";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import type { Reply } from "../../src/protocol/index.js";
import { RawClient } from "../server/rawClient.js";

/** The outcome of one command that may open a data connection: its final reply and the bytes received. */
export interface TransferOutcome {
  /** The preliminary reply (150/125) when there was one, else undefined. */
  readonly preliminary: Reply | undefined;
  /** The final reply (226, 426, 425, 550, ...). */
  readonly final: Reply | undefined;
  /** What the server sent on the data connection. */
  readonly data: Buffer;
}

/** Connect to a passive data port. */
export async function dataSocket(port: number): Promise<Socket> {
  const s = connect({ host: "127.0.0.1", port });
  s.on("error", () => undefined);
  await once(s, "connect");
  return s;
}

/**
 * PASV, then `line`; when the server answers 150/125, connect, send `upload` (then FIN) or
 * collect what it sends, and await the final reply.
 */
export async function transfer(c: RawClient, line: string | Buffer, upload?: Buffer): Promise<TransferOutcome> {
  const port = await c.pasv();
  c.write(typeof line === "string" ? line + "\r\n" : Buffer.concat([line, Buffer.from("\r\n")]));
  const first = await c.next();
  if (first?.code !== 150 && first?.code !== 125) return { preliminary: undefined, final: first, data: Buffer.alloc(0) };
  const s = await dataSocket(port);
  const chunks: Buffer[] = [];
  s.on("data", (d: Buffer) => chunks.push(d));
  const closed = new Promise((resolve) => s.once("close", resolve)); // also after a reset (a refused upload)
  if (upload) s.end(upload);
  await closed;
  return { preliminary: first, final: await c.next(), data: Buffer.concat(chunks) };
}

/** sha256 hex of bytes. */
export function sha(data: Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

/** A snapshot of a directory tree: every entry with its kind, size, mtime, and for files mode and content hash. */
export async function snapshot(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const stack = [""];
  for (let rel = stack.pop(); rel !== undefined; rel = stack.pop()) {
    for (const name of (await readdir(join(root, rel))).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const st = await lstat(join(root, r));
      if (st.isDirectory()) {
        out[r] = `dir ${st.mtimeMs}`;
        stack.push(r);
      } else if (st.isFile()) {
        out[r] = `file ${st.size} ${st.mtimeMs} ${(st.mode & 0o7777).toString(8)} ${sha(await readFile(join(root, r)))}`;
      } else {
        out[r] = `other ${st.mtimeMs}`;
      }
    }
  }
  return out;
}

/** Names in `dir` that are ferry's hidden upload temporaries. */
export async function tempFilesIn(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.startsWith(".ferry-upload."));
}
