// `ferry serve` as its own process for benchmarks (as a real deployment runs it), on
// 127.0.0.1 with one read-write user and a fresh root folder.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { freePort, stopProcess, waitForPort } from "../../test/helpers/vsftpd.js";

export interface BenchServer {
  readonly name: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  /** The login folder on disk. */
  readonly home: string;
  readonly pid: number;
  stop(): Promise<void>;
}

/** Start `node CLI serve` with `root` (created) as its folder; `wrap` may prefix the command (taskset). */
export async function startFerryServe(cli: string, root: string, wrap: (cmd: string, args: string[]) => [string, string[]] = (c, a) => [c, a]): Promise<BenchServer> {
  await mkdir(root, { recursive: true });
  const port = await freePort();
  const password = randomBytes(9).toString("hex");
  const [cmd, args] = wrap(process.execPath, [cli, "serve", "--root", root, "--host", "127.0.0.1", "--port", String(port), "--user", `bench:${password}`,
    "--max-unauthenticated-per-address", "64"]);
  let log = "";
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, FERRY_LOG_LEVEL: "warn" } });
  child.stdout?.on("data", (d: Buffer) => (log = (log + d.toString()).slice(-2000)));
  child.stderr?.on("data", (d: Buffer) => (log = (log + d.toString()).slice(-2000)));
  try {
    await waitForPort(port, child, () => log.slice(0, 300));
  } catch (err) {
    await stopProcess(child);
    throw err;
  }
  return { name: "ferry", port, user: "bench", password, home: root, pid: child.pid ?? 0, stop: () => stopProcess(child) };
}
