import { connect, createServer, type Socket } from "node:net";

// A control-connection relay (data connections go straight to the server, whose EPSV replies
// name its own port) that makes a well-behaved server look like one that mishandles pipelined
// commands, and counts the client's writes. Faults apply from the start or after `after`
// transfers (STOR/RETR lines) have gone through, so a server can pass the probe and fail later.

/** How the relay misbehaves. */
export type RelayFault =
  | { kind: "none" }
  /** Only the first command of each client write reaches the server (it reads one command per packet). */
  | { kind: "first-line-per-write" }
  /** Whatever follows a STOR/RETR in the same client write is dropped. */
  | { kind: "drop-after-transfer"; after: number }
  /** The two replies after the transfer's 226 are swapped (answered out of order) when they were queued behind it. */
  | { kind: "swap-after-transfer"; after: number }
  /** The first `SIZE <path>` for a path matching `match` gets `213 <size - 1>` (a lying size). */
  | { kind: "wrong-size"; match: RegExp }
  /** `SIZE <path>` for a path matching `match` is sent as SIZE of a missing file (550). */
  | { kind: "size-550"; match: RegExp }
  /** The control connection is cut right after the server's 226 of the `after`-th transfer. */
  | { kind: "cut-after-transfer"; after: number };

/** A running relay. */
export interface PipelineRelay {
  readonly port: number;
  /** Client writes on control connections (each a packet on the wire), and the command lines they held, in order. */
  readonly writes: string[][];
  /** Every command line the client sent, in order. */
  readonly commands: string[];
  close(): Promise<void>;
}

export async function startPipelineRelay(targetPort: number, fault: RelayFault): Promise<PipelineRelay> {
  const sockets = new Set<Socket>();
  const writes: string[][] = [];
  const commands: string[] = [];
  let transfers = 0;
  let cut = false;
  let lied = false; // a lying size is told once: the retry sees the truth
  const track = (s: Socket): Socket => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => undefined);
    return s;
  };
  const server = createServer((client) => {
    track(client);
    const upstream = track(connect(targetPort, "127.0.0.1"));
    let swapArmed = 0; // transfers whose 226 arms a swap
    let held: string | undefined;
    let down = "";
    let up = "";
    client.on("data", (chunk: Buffer) => {
      // A write may reach us in pieces: a piece without a complete line joins the next one.
      up += chunk.toString("latin1");
      const lines = up.split("\r\n");
      up = lines.pop()!;
      if (lines.length === 0) return;
      writes.push(lines);
      commands.push(...lines);
      let out: string[] = [];
      for (const line of lines) {
        const verb = line.split(" ")[0]!.toUpperCase();
        if (fault.kind === "wrong-size" && verb === "SIZE" && fault.match.test(line) && !lied) {
          lied = true;
          (client as Socket & { lie?: string[] }).lie ??= [];
          ((client as Socket & { lie?: string[] }).lie!).push(line);
        }
        if (fault.kind === "size-550" && verb === "SIZE" && fault.match.test(line)) {
          out.push("SIZE /no-such-file-here");
          continue;
        }
        out.push(line);
        if (verb === "STOR" || verb === "RETR") {
          transfers++;
          if (fault.kind === "drop-after-transfer" && transfers > fault.after) break;
          // Out of order only where commands were queued behind the transfer, as such servers are.
          if (fault.kind === "swap-after-transfer" && transfers > fault.after && lines.length - lines.indexOf(line) > 2) swapArmed++;
        }
      }
      if (fault.kind === "first-line-per-write") out = out.slice(0, 1);
      if (out.length > 0) upstream.write(out.map((l) => `${l}\r\n`).join(""));
    });
    upstream.on("data", (chunk: Buffer) => {
      down += chunk.toString("latin1");
      let text = "";
      for (let i; (i = down.indexOf("\r\n")) >= 0; down = down.slice(i + 2)) {
        let line = down.slice(0, i);
        if (fault.kind === "wrong-size" && /^213 \d+$/.test(line)) {
          const lie = (client as Socket & { lie?: string[] }).lie;
          // Replies come in command order: the first pending SIZE reply that belongs to a lied-about path.
          if (lie && lie.length > 0) {
            lie.shift();
            line = `213 ${Number(line.slice(4)) - 1}`;
          }
        }
        if (swapArmed > 0 && /^226 /.test(line)) {
          swapArmed--;
          held = ""; // the next reply is held and sent after the one following it
          text += `${line}\r\n`;
          continue;
        }
        if (held === "") { held = line; continue; }
        if (held !== undefined) { text += `${line}\r\n${held}\r\n`; held = undefined; continue; }
        text += `${line}\r\n`;
        if (fault.kind === "cut-after-transfer" && !cut && /^226 /.test(line) && transfers >= fault.after) {
          cut = true;
          client.write(text);
          client.destroy();
          upstream.destroy();
          return;
        }
      }
      if (text) client.write(text);
    });
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  return {
    port: (server.address() as { port: number }).port,
    writes, commands,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
