import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, open, readdir, rename, rm, rmdir, stat, utimes } from "node:fs/promises";
import { join } from "node:path";
import type { Readable, Writable } from "node:stream";
import { FtpReplyError } from "../../src/protocol/index.js";
import type { SyncClient, SyncPool, SyncRemoteEntry } from "../../src/sync/remote.js";

/** A transient transport fault, as a cut data connection would raise. */
export class FakeCut extends Error {
  override readonly name = "FakeCut";
}

/** Settings of a FakeRemote. */
export interface FakeRemoteOptions {
  /** MLSD-style precise times; false = LIST-only coarse dates. Default true. */
  mlsd?: boolean;
  rest?: boolean;
  hash?: boolean;
  mfmt?: boolean;
  /** Whether SIZE is understood (false: 502, as on some old servers). Default true. */
  sizeCommand?: boolean;
}

/**
 * A remote backed by a local folder, implementing the engine's SyncClient seam so the
 * engine's own logic (resume, verify, publish, retry) can be tested without a server.
 * Faults: `cutOnce.set(path, n)` cuts the next transfer of `path` after n bytes;
 * `deny.add(path)` answers 550 for it.
 */
export class FakeRemote implements SyncClient {
  readonly features;
  readonly cutOnce = new Map<string, number>();
  readonly deny = new Set<string>();
  readonly commands: string[] = [];
  readonly #opts: Required<FakeRemoteOptions>;
  constructor(readonly root: string, options: FakeRemoteOptions = {}) {
    this.#opts = { mlsd: true, rest: true, hash: true, mfmt: true, sizeCommand: true, ...options };
    this.features = { rest: this.#opts.rest, hash: this.#opts.hash ? (["SHA-256"] as const).slice() : [], legacyHash: [] };
  }
  pool(): SyncPool {
    return { use: (fn) => fn(this) };
  }
  #real(p: string): string {
    return join(this.root, ...p.split("/").filter((s) => s !== "" && s !== "."));
  }
  #notFound(cmd: string, p: string): never {
    throw new FtpReplyError(550, `${p}: No such file or directory`, cmd);
  }
  async list(path = "."): Promise<SyncRemoteEntry[]> {
    this.commands.push(`LIST ${path}`);
    const dir = this.#real(path);
    const names = await readdir(dir).catch(() => this.#notFound("MLSD", path));
    const out: SyncRemoteEntry[] = [];
    for (const name of names) {
      // An entry renamed or removed by another connection since readdir is left out, as a
      // real server's listing does; throwing here made batch tests fail under load.
      const st = await stat(join(dir, name)).catch(() => undefined);
      if (!st) continue;
      out.push({
        name, type: st.isDirectory() ? "dir" : "file", size: st.size,
        ...(this.#opts.mlsd ? { modifiedAt: new Date(Math.floor(st.mtimeMs / 1000) * 1000) } : { rawModifiedAt: "Jan  1 00:00" }),
      });
    }
    return out;
  }
  async stat(path: string): Promise<SyncRemoteEntry | undefined> {
    const st = await stat(this.#real(path)).catch(() => undefined);
    if (!st) return undefined;
    return { name: path.split("/").pop() ?? path, type: st.isDirectory() ? "dir" : "file", size: st.size, modifiedAt: st.mtime };
  }
  async size(path: string): Promise<number> {
    this.commands.push(`SIZE ${path}`);
    if (!this.#opts.sizeCommand) throw new FtpReplyError(502, "Command not implemented", `SIZE ${path}`);
    const st = await stat(this.#real(path)).catch(() => this.#notFound("SIZE", path));
    return st.size;
  }
  async setModifiedTime(path: string, date: Date): Promise<boolean> {
    if (!this.#opts.mfmt) return false;
    await utimes(this.#real(path), date, date);
    return true;
  }
  async hash(path: string): Promise<{ algorithm: "SHA-256"; value: string } | undefined> {
    if (!this.#opts.hash) return undefined;
    const h = createHash("sha256");
    for await (const c of createReadStream(this.#real(path))) h.update(c as Buffer);
    return { algorithm: "SHA-256", value: h.digest("hex") };
  }
  async download(path: string, destination: Writable, options: { offset?: number } = {}): Promise<number> {
    this.commands.push(`RETR ${path}${options.offset ? ` @${options.offset}` : ""}`);
    if (this.deny.has(path)) throw new FtpReplyError(550, "Permission denied", `RETR ${path}`);
    const cut = this.cutOnce.get(path);
    this.cutOnce.delete(path);
    let sent = 0;
    for await (const chunk of createReadStream(this.#real(path), { start: options.offset ?? 0, highWaterMark: 16384 })) {
      let buf = chunk as Buffer;
      if (cut !== undefined && sent + buf.length > cut) buf = buf.subarray(0, cut - sent);
      if (buf.length > 0 && !destination.write(buf)) await new Promise((r) => destination.once("drain", r));
      sent += buf.length;
      if (cut !== undefined && sent >= cut) throw new FakeCut(`426 connection cut after ${sent} bytes`);
    }
    return sent;
  }
  async upload(source: Readable, path: string, options: { offset?: number } = {}): Promise<number> {
    this.commands.push(`STOR ${path}${options.offset ? ` @${options.offset}` : ""}`);
    const target = path.replace(/\/\.([^/]+)\.ferry-part$/, "/$1").replace(/^\.([^/]+)\.ferry-part$/, "$1");
    if (this.deny.has(target)) { source.destroy(); throw new FtpReplyError(553, "Permission denied", `STOR ${path}`); }
    const cut = this.cutOnce.get(target);
    this.cutOnce.delete(target);
    const fh = await open(this.#real(path), options.offset ? "r+" : "w");
    let pos = options.offset ?? 0;
    try {
      await fh.truncate(pos);
      for await (const chunk of source) {
        let buf = chunk as Buffer;
        if (cut !== undefined && pos - (options.offset ?? 0) + buf.length > cut) buf = buf.subarray(0, cut - (pos - (options.offset ?? 0)));
        await fh.write(buf, 0, buf.length, pos);
        pos += buf.length;
        if (cut !== undefined && pos - (options.offset ?? 0) >= cut) { source.destroy(); throw new FakeCut(`426 connection cut after ${cut} bytes`); }
      }
    } finally {
      await fh.close();
    }
    return pos - (options.offset ?? 0);
  }
  async rename(from: string, to: string): Promise<void> {
    this.commands.push(`RNFR ${from} RNTO ${to}`);
    await rename(this.#real(from), this.#real(to));
  }
  async remove(path: string): Promise<void> {
    this.commands.push(`DELE ${path}`);
    await rm(this.#real(path));
  }
  async ensureDir(path: string): Promise<void> {
    await mkdir(this.#real(path), { recursive: true });
  }
  async rmdir(path: string): Promise<void> {
    this.commands.push(`RMD ${path}`);
    await rmdir(this.#real(path));
  }
}
