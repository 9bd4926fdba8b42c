import { readdirSync } from "node:fs";
import { connect } from "node:net";
import { once } from "node:events";

/** Poll `cond` every `everyMs` until it holds; throws naming `what` after `timeoutMs` (bounded). */
export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 5000, everyMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Open descriptors of this process (the in-process server's, plus the test's own sockets). */
export function fdCount(): number {
  return readdirSync("/proc/self/fd").length;
}

/**
 * True when nothing listens on 127.0.0.1:`port` any more (connect refused). The probe comes
 * from `from` (default 127.0.0.2, not the FTP client's address), so a passive listener
 * refuses it as foreign and does not take it for the client's data connection.
 */
export async function portRefuses(port: number, from = "127.0.0.2"): Promise<boolean> {
  const s = connect({ host: "127.0.0.1", port, localAddress: from });
  s.on("error", () => undefined);
  const r = await Promise.race([
    once(s, "connect").then(() => false, () => true),
    once(s, "error").then(() => true),
  ]);
  s.destroy();
  return r;
}

/** Stats a serverChild reports. */
export interface ChildStats {
  readonly rssKb: number;
  readonly hwmKb: number;
  readonly fds: number;
  readonly sessions: number;
}

/** A running serverChild: its port, a stats() query and stop(). */
export interface ServerChild {
  readonly port: number;
  readonly pid: number;
  stats(): Promise<ChildStats>;
  /** True while the child process runs. */
  readonly alive: boolean;
  stop(): Promise<void>;
}

/** Start test/faults/serverChild.ts serving `root` with `limits`. */
export async function startServerChild(root: string, limits: Record<string, number> = {}, nodeFlags: readonly string[] = []): Promise<ServerChild> {
  const { spawn } = await import("node:child_process");
  const { createInterface } = await import("node:readline");
  const { fileURLToPath } = await import("node:url");
  const script = fileURLToPath(new URL("./serverChild.ts", import.meta.url));
  const child = spawn(process.execPath, ["--expose-gc", ...nodeFlags, "--import", "tsx", script, root, JSON.stringify(limits)], { stdio: ["pipe", "pipe", "inherit"] });
  let exited = false;
  child.once("exit", () => (exited = true));
  const lines = createInterface({ input: child.stdout! });
  const waiting: Array<(l: string) => void> = [];
  lines.on("line", (l) => waiting.shift()?.(l));
  const nextLine = (): Promise<string> => new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("server child did not answer within 20 s")), 20_000);
    timer.unref();
    waiting.push((l) => {
      clearTimeout(timer);
      resolve(l);
    });
  });
  const { port } = JSON.parse(await nextLine()) as { port: number };
  return {
    port, pid: child.pid!,
    get alive() {
      return !exited;
    },
    stats: async () => {
      const answer = nextLine();
      child.stdin!.write("gc\n");
      return JSON.parse(await answer) as ChildStats;
    },
    stop: async () => {
      if (exited) return;
      child.stdin!.end();
      await Promise.race([once(child, "exit"), new Promise((r) => setTimeout(r, 5000).unref())]);
      if (!exited) child.kill("SIGKILL");
    },
  };
}
