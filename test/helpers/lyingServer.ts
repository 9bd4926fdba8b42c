import { readFileSync } from "node:fs";
import { spawn } from "node:child_process";
import type { Socket } from "node:net";
import { startFakeFtpServer, type FakeServer, type FakeSession } from "./fakeFtpServer.js";

/**
 * How the lying server's RETR behaves (FAULTS.md B9):
 * - "endless": data without end after announcing `announced` bytes (until the client closes,
 *   or at most 512 MiB);
 * - "exact": exactly `announced` bytes, then 226 (the honest baseline);
 * - "short": half of them, the data closed, then 226 anyway;
 * - "early226": 226 first, then all the bytes, slowly, then the end of data.
 */
export type LyingMode = "endless" | "exact" | "short" | "early226";

/** A scripted server whose SIZE says `announced` for every file and whose RETR does `mode`. */
export function startLyingServer(announced: number, mode: LyingMode): Promise<FakeServer> {
  const chunk = Buffer.alloc(256 * 1024, 0x61);
  const body = (n: number): Buffer => Buffer.alloc(n, 0x62);
  const write = (d: Socket, buf: Buffer): Promise<boolean> => new Promise((resolve) => {
    if (d.destroyed) return resolve(false);
    if (d.write(buf)) return resolve(true);
    const done = (): void => {
      d.off("drain", done);
      d.off("close", done);
      resolve(!d.destroyed);
    };
    d.once("drain", done);
    d.once("close", done);
  });
  return startFakeFtpServer({
    handlers: {
      SIZE: (_a, s) => s.reply(213, String(announced)),
      MDTM: (_a, s) => s.reply(550, "Could not get file modification time."),
      RETR: async (_a, s: FakeSession) => {
        s.reply(150, "Opening BINARY mode data connection.");
        const d = await s.data();
        d.on("error", () => undefined);
        const closed = new Promise((r) => d.once("close", r));
        if (mode === "endless") {
          // Until the client gives up (it closes the data connection), or 512 MiB: a client
          // that never stops must not fill the test machine's disk either.
          for (let sent = 0; sent < 512 * 1024 * 1024 && (await write(d, chunk)); sent += chunk.length);
          d.destroy();
          await closed;
          s.reply(426, "Connection closed; transfer aborted.");
          return;
        }
        if (mode === "early226") {
          s.reply(226, "Transfer complete.");
          for (let sent = 0; sent < announced;) {
            const n = Math.min(64 * 1024, announced - sent);
            if (!(await write(d, body(n)))) break;
            sent += n;
            await new Promise((r) => setTimeout(r, 5)); // the data trails the 226
          }
          d.end();
          await closed;
          return;
        }
        d.end(body(mode === "short" ? Math.floor(announced / 2) : announced));
        await closed;
        s.reply(226, "Transfer complete.");
      },
    },
  });
}

/** A child's exit, its output and its peak resident memory (VmHWM), polled from /proc while it runs. */
export interface MeasuredRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Peak RSS in bytes, as last read from /proc/PID/status (VmHWM never decreases). */
  peakRss: number;
  /** True when the child was killed for passing `killAboveBytes` (or the timeout). */
  killed: boolean;
}

function vmHwm(pid: number): number | undefined {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined; // gone
  }
}

/**
 * Run argv[0] with the rest; poll its peak RSS every 20 ms and kill it (SIGKILL) when it
 * passes `killAboveBytes` or runs past `timeoutMs`: a victim that eats memory must not take
 * the machine with it.
 */
export function runMeasured(argv: string[], options: { cwd: string; env?: NodeJS.ProcessEnv; killAboveBytes: number; timeoutMs: number }): Promise<MeasuredRun> {
  const [cmd, ...rest] = argv as [string, ...string[]];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, rest, { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let peakRss = 0;
    let killed = false;
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const poll = setInterval(() => {
      const hwm = child.pid === undefined ? undefined : vmHwm(child.pid);
      if (hwm !== undefined) peakRss = Math.max(peakRss, hwm);
      if (peakRss > options.killAboveBytes && !killed) {
        killed = true;
        child.kill("SIGKILL");
      }
    }, 20);
    const timer = setTimeout(() => {
      killed = true;
      child.kill("SIGKILL");
    }, options.timeoutMs);
    child.on("error", reject);
    // Last look before the process is reaped: 'exit' fires once it ended, /proc may still answer.
    child.on("exit", () => {
      const hwm = child.pid === undefined ? undefined : vmHwm(child.pid);
      if (hwm !== undefined) peakRss = Math.max(peakRss, hwm);
    });
    child.on("close", (code) => {
      clearInterval(poll);
      clearTimeout(timer);
      resolve({ code, stdout, stderr, peakRss, killed });
    });
  });
}
