/**
 * A ferry FTP server in a child process, for memory and descriptor checks that must not see
 * the test's own allocations: `serverChild.ts ROOT LIMITS_JSON` prints {"port":N} on its
 * first line, then answers each "stats" line on stdin with one JSON line of its VmRSS,
 * VmHWM (KiB), open descriptors and sessions.
 */
import { readdirSync, readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { Authenticator, FtpServer } from "../../src/server/index.js";

const [root = ".", limitsJson = "{}"] = process.argv.slice(2);
const authenticator = await Authenticator.create({ root, users: [{ name: "user", password: "pass" }] });
const server = new FtpServer({ authenticator, host: "127.0.0.1", port: 0, limits: JSON.parse(limitsJson) as Record<string, number> });
const port = await server.listen();
process.stdout.write(JSON.stringify({ port }) + "\n");

function statusKb(field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync("/proc/self/status", "utf8"));
  return Number(m?.[1] ?? NaN);
}

createInterface({ input: process.stdin }).on("line", (line) => {
  if (line.trim() === "gc") (globalThis as { gc?: () => void }).gc?.();
  process.stdout.write(JSON.stringify({
    rssKb: statusKb("VmRSS"), hwmKb: statusKb("VmHWM"), fds: readdirSync("/proc/self/fd").length, sessions: server.sessionCount,
  }) + "\n");
}).on("close", () => void server.close(0).then(() => process.exit(0)));
