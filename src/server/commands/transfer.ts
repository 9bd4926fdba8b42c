import { randomBytes } from "node:crypto";
import type { Socket } from "node:net";
import { pipeline } from "node:stream/promises";
import { fromNetworkAscii, toNetworkAscii } from "../ascii.js";
import { STREAM_CHUNK_BYTES } from "../limits.js";
import { sendFile } from "../sendFile.js";
import { receiveFile, streamToFile } from "../receiveFile.js";
import { PathError, type VirtualPath } from "../FileSystem.js";
import type { Session, TransferResult } from "../Session.js";
import { command, type CommandSpec } from "./types.js";

async function retr(s: Session, arg: string): Promise<void> {
  const path = s.resolve(arg);
  const offset = s.takeRestOffset();
  const { handle, size } = await s.fs.openFile(path);
  try {
    if (!s.requireDataChannel()) return;
    if (offset > size) return s.reply(554, `REST offset ${offset} is beyond the end of the file (${size} bytes)`);
    await s.runTransfer("RETR", path, `Opening ${s.type === "A" ? "ASCII" : "BINARY"} data connection for ${path} (${size - offset} bytes)`,
      async (data, signal) => {
        if (s.type === "I") {
          let sent = 0;
          s.setTransferProgress(() => sent);
          return { bytes: await sendFile(handle, offset, data, signal, (n) => (sent = n)) };
        }
        const stream = handle.createReadStream({ start: offset, highWaterMark: STREAM_CHUNK_BYTES, autoClose: false });
        s.setTransferProgress(() => stream.bytesRead);
        await pipeline(stream, toNetworkAscii(), data, { signal });
        return { bytes: stream.bytesRead };
      });
  } finally {
    await handle.close(); // also when the data connection never came
  }
}

type WriteMode = "truncate" | "append" | "resume" | "exclusive";

async function receive(s: Session, verb: string, path: VirtualPath, mode: WriteMode, offset: number, preliminary: string): Promise<void> {
  if (!s.requireDataChannel()) return;
  const { handle, start } = await s.fs.openWrite(path, mode, offset);
  try {
    await s.runTransfer(verb, path, preliminary, async (data: Socket, signal): Promise<TransferResult> => {
      let received = 0;
      s.setTransferProgress(() => received);
      const options = { start, signal, onProgress: (n: number) => (received = n) };
      // Only an orderly end of the data stream (FIN) marks an upload complete: both reject otherwise.
      if (s.type === "A") return { bytes: await streamToFile(data, handle, { ...options, transform: fromNetworkAscii() }) };
      return { bytes: await receiveFile(data, handle, { ...options, stallTimeoutMs: s.options.limits.dataTimeoutMs }) };
    });
  } finally {
    await handle.close(); // also when the data connection never came
  }
}

async function stor(s: Session, arg: string): Promise<void> {
  const path = s.resolve(arg);
  const offset = s.takeRestOffset();
  await receive(s, "STOR", path, offset > 0 ? "resume" : "truncate", offset, `Ready to receive ${path}${offset ? ` from byte ${offset}` : ""}`);
}

async function appe(s: Session, arg: string): Promise<void> {
  s.takeRestOffset();
  const path = s.resolve(arg);
  await receive(s, "APPE", path, "append", 0, `Ready to append to ${path}`);
}

async function stou(s: Session, arg: string): Promise<void> {
  s.takeRestOffset();
  const base = arg === "" ? "ferry" : arg;
  for (let attempt = 0; attempt < 5; attempt++) {
    const path = s.resolve(`${base}.${randomBytes(4).toString("hex")}`);
    if (await s.fs.exists(path)) continue;
    // RFC 1123 section 4.1.2.9: the 150 reply names the file as "FILE: name".
    return receive(s, "STOU", path, "exclusive", 0, `FILE: ${path.slice(path.lastIndexOf("/") + 1)}`);
  }
  throw new PathError("could not find a unique name");
}

/** File transfers: RETR STOR APPE STOU REST ABOR. */
export const TRANSFER_COMMANDS: readonly CommandSpec[] = [
  command("RETR", "RETR <path>", retr, { arg: "required", perm: "read" }),
  command("STOR", "STOR <path>", stor, { arg: "required", perm: "create" }),
  command("APPE", "APPE <path>", appe, { arg: "required", perm: "append" }),
  command("STOU", "STOU [name prefix]", stou, { perm: "create" }),
  command("REST", "REST <byte offset>", async (s, arg) => {
    if (!/^\d{1,15}$/.test(arg.trim())) return s.reply(501, "REST needs a byte offset (a non-negative integer)");
    s.restOffset = Number(arg.trim());
    s.reply(350, `Restarting at ${s.restOffset}: send RETR or STOR`);
  }, { arg: "required", feat: "REST STREAM" }),
  command("ABOR", "ABOR", async (s) => {
    // RFC 959 section 4.1.3: an aborted transfer draws 426 first, then ABOR's own 226.
    if (await s.abortTransfer("aborted by client (ABOR)")) return s.reply(226, "ABOR successful");
    s.reply(225, "No transfer to abort");
  }, { duringTransfer: true, arg: "forbidden" }),
];
