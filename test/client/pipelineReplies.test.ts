import { test } from "node:test";
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import type { Socket } from "node:net";
import { ControlChannel, type PipelineHandle } from "../../src/client/ControlChannel.js";
import { FtpUsageError, PipelineBrokenError } from "../../src/client/errors.js";
import { silentLogger } from "../../src/log/index.js";
import { FtpReplyError, type Reply } from "../../src/protocol/index.js";

// Reply matching of a pipelined ControlChannel (STYLE guideline 1, RFC 959 section 5.3), over
// a stand-in socket so every segmentation of the server's text can be fed exactly: whole,
// byte by byte, one reply per chunk, and cut inside the CRLF.

/** The parts of a net.Socket a ControlChannel uses; records writes and the packets they leave in. */
class FakeSocket extends EventEmitter {
  readonly written: string[] = [];
  /** Writes grouped by cork/uncork: what leaves in one packet. */
  readonly packets: string[][] = [];
  #corked = 0;
  #batch: string[] = [];
  remoteAddress = "127.0.0.1";
  destroyed = false;
  setNoDelay(): this { return this; }
  setTimeout(): this { return this; }
  cork(): void { this.#corked++; }
  uncork(): void {
    if (--this.#corked === 0 && this.#batch.length > 0) this.packets.push(this.#batch.splice(0));
  }
  write(text: string): boolean {
    this.written.push(text);
    if (this.#corked > 0) this.#batch.push(text.trimEnd());
    else this.packets.push([text.trimEnd()]);
    return true;
  }
  destroy(): this { this.destroyed = true; return this; }
}

function channel(): { socket: FakeSocket; control: ControlChannel } {
  const socket = new FakeSocket();
  const control = new ControlChannel(socket as unknown as Socket, { logger: silentLogger(), timeoutMs: 5000, peer: "fake:21" });
  return { socket, control };
}

const pipeline = (control: ControlChannel, broken: PipelineBrokenError[] = []): PipelineHandle =>
  control.openPipeline({ owner: "test", stallMs: 1000, onBroken: (e) => void broken.push(e) });

type Segmenter = (text: string) => string[];
const SEGMENTATIONS: Record<string, Segmenter> = {
  "in one chunk": (t) => [t],
  "byte by byte": (t) => [...t],
  "one line per chunk": (t) => t.split(/(?<=\r\n)/),
  "cut inside each CRLF": (t) => t.split(/(?<=\r)/),
  "in chunks of 7 bytes": (t) => t.match(/[\s\S]{1,7}/g) ?? [],
};

/** Settled outcome of a pipelined command: its reply code, or the error's class and code. */
async function outcome(p: Promise<Reply | number>): Promise<string> {
  try {
    const r = await p;
    return typeof r === "number" ? `transfer ${r}` : String(r.code);
  } catch (err) {
    if (err instanceof FtpReplyError) return `refused ${err.code}`;
    if (err instanceof PipelineBrokenError) return "broken";
    return `error ${(err as Error).name}`;
  }
}

interface Row {
  title: string;
  /** Commands sent in one turn, in order; "STOR" and "RETR" run as transfers that count their replies. */
  commands: string[];
  replies: string;
  expected: string[];
}

const rows: Row[] = [
  { title: "replies in order", commands: ["EPSV", "SIZE a", "RNFR a", "RNTO b"],
    replies: "229 Entering Extended Passive Mode (|||4000|)\r\n213 12\r\n350 Ready\r\n250 Renamed\r\n", expected: ["229", "213", "350", "250"] },
  { title: "a multi-line reply among single ones", commands: ["PWD", "HELP", "NOOP"],
    replies: "257 \"/\"\r\n214-The following commands are recognized:\r\n USER PASS\r\n214 Help OK\r\n200 ok\r\n", expected: ["257", "214", "200"] },
  { title: "a multi-line reply that repeats its code on each line", commands: ["FEAT", "NOOP"],
    replies: "211-Features:\r\n211-EPSV\r\n211 End\r\n200 ok\r\n", expected: ["211", "200"] },
  { title: "a transfer's 1xx and 226 belong to it", commands: ["STOR p", "SIZE p", "EPSV"],
    replies: "150 Ok to send data.\r\n226 Transfer complete.\r\n213 4096\r\n229 Entering Extended Passive Mode (|||4001|)\r\n", expected: ["transfer 2", "213", "229"] },
  { title: "refusals fit any command and the rest stay in step", commands: ["SIZE missing", "NOOP", "RNFR x", "RNTO y"],
    replies: "550 No such file\r\n200 ok\r\n350 Ready\r\n553 Not allowed\r\n", expected: ["refused 550", "200", "350", "refused 553"] },
  { title: "answered out of order: the connection breaks", commands: ["PWD", "NOOP"],
    replies: "200 ok\r\n257 \"/\"\r\n", expected: ["broken", "broken"] },
  { title: "a 1xx for a command that opens no transfer breaks it", commands: ["SIZE a", "NOOP"],
    replies: "150 what?\r\n213 1\r\n200 ok\r\n", expected: ["broken", "broken"] },
  { title: "a transfer answered with another command's code breaks it", commands: ["STOR p", "SIZE p"],
    replies: "213 4096\r\n150 Ok\r\n226 done\r\n", expected: ["broken", "broken"] },
];

for (const row of rows) {
  for (const [how, split] of Object.entries(SEGMENTATIONS)) {
    test(`pipelined replies: ${row.title}, ${how}`, async () => {
      const { socket, control } = channel();
      const p = pipeline(control);
      const results = row.commands.map((line) => {
        const [verb, arg] = line.split(" ") as [string, string | undefined];
        if (verb !== "STOR" && verb !== "RETR") return outcome(p.request(verb, arg));
        let seen = 0;
        return outcome(p.handle<number>(verb, arg, (reply, task) => {
          seen++;
          if (reply.code >= 400) task.reject(new FtpReplyError(reply.code, "refused", verb));
          else if (reply.code >= 200) task.resolve(seen);
        }));
      });
      await new Promise((r) => process.nextTick(r)); // the corked write leaves
      assert.deepEqual(socket.packets, [row.commands], "all commands leave in one write");
      for (const chunk of split(row.replies)) socket.emit("data", Buffer.from(chunk, "latin1"));
      assert.deepEqual(await Promise.all(results), row.expected);
      assert.equal(control.closed, row.expected.includes("broken"));
    });
  }
}

test("pipelined replies: a reply with no command waiting breaks the connection", async () => {
  const { socket, control } = channel();
  const broken: PipelineBrokenError[] = [];
  const p = pipeline(control, broken);
  const noop = outcome(p.request("NOOP"));
  socket.emit("data", Buffer.from("200 ok\r\n200 ok again\r\n"));
  assert.equal(await noop, "200");
  assert.equal(control.closed, true);
  assert.equal(broken.length, 1);
  assert.match(broken[0]!.reason, /no command waiting/);
});

test("pipelined replies: a queued command left unanswered (dropped) breaks the connection once the one before it is answered", async () => {
  const { socket, control } = channel();
  const broken: PipelineBrokenError[] = [];
  const p = pipeline(control, broken);
  const pwd = outcome(p.request("PWD"));
  const noop = outcome(p.request("NOOP"));
  socket.emit("data", Buffer.from("257 \"/\"\r\n"));
  assert.equal(await pwd, "257");
  socket.emit("timeout"); // the socket's idle timer, armed with stallMs for the queued NOOP
  assert.equal(await noop, "broken");
  assert.match(broken[0]!.reason, /no reply to NOOP within 1000 ms/);
});

test("pipelined replies: one owner at a time, named in the error", async () => {
  const { socket, control } = channel();
  const p = pipeline(control);
  await assert.rejects(control.request("NOOP"), (err: Error) => err instanceof FtpUsageError && /pipeline of test holds the connection/.test(err.message));
  assert.throws(() => control.openPipeline({ owner: "second", stallMs: 1, onBroken: () => undefined }),
    (err: Error) => err instanceof FtpUsageError && /second asked for the connection while the pipeline of test holds it/.test(err.message));
  const noop = p.request("NOOP");
  assert.throws(() => p.release(), /released with 1 command\(s\) in flight/);
  socket.emit("data", Buffer.from("200 ok\r\n"));
  await noop;
  p.release();
  // Lockstep again, exactly as before: one command, its reply.
  const again = control.request("NOOP");
  socket.emit("data", Buffer.from("200 ok\r\n"));
  assert.equal((await again).code, 200);
  await assert.rejects(p.request("NOOP"), /used after it was released/);
});
