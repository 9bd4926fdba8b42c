import { spawn } from "node:child_process";
import type { Logger } from "../log/index.js";

/**
 * Tell systemd that ferry is ready (Type=notify units, deploy/*.service): when NOTIFY_SOCKET is
 * set, run `systemd-notify --ready`. Node cannot send the unix datagram sd_notify uses without
 * a native module, and systemd-notify can, on the service's behalf: the units set
 * NotifyAccess=all so a message from this child counts, and systemd-notify waits until systemd
 * has taken the message (its default since systemd 246) before exiting, so the message is
 * never lost to the child's exit. Without NOTIFY_SOCKET (not under systemd), nothing happens.
 * A failure is logged, not fatal: systemd then reports the start as timed out, which says why.
 */
export async function notifyReady(logger: Logger, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  if (!env.NOTIFY_SOCKET) return;
  const command = "systemd-notify";
  await new Promise<void>((resolve) => {
    const child = spawn(command, ["--ready", `--status=ferry ready (pid ${process.pid})`], { env, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", (err) => {
      logger.warn({ event: "systemd.notify-failed", err: err.message }, `cannot run ${command} to tell systemd ferry is ready (Type=notify needs it: install systemd, or use Type=exec)`);
      resolve();
    });
    child.on("close", (code) => {
      if (code === 0) logger.debug({ event: "systemd.notified" }, "told systemd ferry is ready");
      else logger.warn({ event: "systemd.notify-failed", code, stderr: stderr.trim() }, `${command} --ready failed (is NotifyAccess=all set in the unit?)`);
      resolve();
    });
  });
}
