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
