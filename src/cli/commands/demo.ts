import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Command } from "commander";
import { ConfigError, daemonConfigSchema, loadConfigFile, parseJobSide, type DaemonConfig } from "../../config/index.js";
import { resolveDaemonConfig, type ResolvedConfig } from "../../daemon/index.js";
import { createLogger } from "../../log/index.js";
import { UsageError } from "../exitCodes.js";
import { selfCommand } from "../selfCommand.js";
import { formatMaxDelete } from "../../sync/deleteGuard.js";
import { runDaemonUntilSignal } from "./daemon.js";

/** config/demo.yaml of this ferry (found upward from this file: it sits at different depths in src/ and dist/). */
export function demoConfigPath(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const candidate = join(dir, "config", "demo.yaml");
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) throw new UsageError("config/demo.yaml is missing from this ferry installation");
  }
}

/** The demo config with its paths under `base` and, when asked, another port for server and remote. */
export async function demoConfig(base: string, port?: number): Promise<ResolvedConfig> {
  let cfg: DaemonConfig;
  try {
    cfg = await loadConfigFile(demoConfigPath(), daemonConfigSchema);
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(err.message, { cause: err });
    throw err;
  }
  if (port !== undefined && cfg.server) {
    cfg = {
      ...cfg,
      server: { ...cfg.server, listen: `127.0.0.1:${port}` },
      remotes: Object.fromEntries(Object.entries(cfg.remotes).map(([k, r]) => [k, { ...r, url: r.url.replace(/:2121\//, `:${port}/`) }])),
    };
  }
  // Paths resolve against `base` (the folder the demo runs in). The result is also written as a
  // JSON config beside the database, so `ferry status --config` can read the demo's queue.
  const abs = absolutePaths(cfg, base);
  const file = join(dirname(abs.database), "demo.json");
  await mkdir(dirname(file), { recursive: true });
  // Written in the file's own terms: maxDelete back to its text ("50%"), which the schema reads.
  const asText = { ...abs, jobs: abs.jobs.map((j) => (j.kind === "mirror" ? { ...j, maxDelete: formatMaxDelete(j.maxDelete) } : j)) };
  await writeFile(file, `${JSON.stringify(asText, null, 2)}\n`);
  return resolveDaemonConfig(file, abs);
}

/** The config with every local path made absolute against `base`. */
function absolutePaths(cfg: DaemonConfig, base: string): DaemonConfig {
  const abs = (p: string) => resolve(base, p);
  const side = (p: string) => ("local" in parseJobSide(p) ? abs(p) : p);
  return {
    ...cfg,
    database: abs(cfg.database),
    jobs: cfg.jobs.map((j) => (j.kind === "mirror"
      ? { ...j, source: side(j.source), target: side(j.target) }
      : { ...j, watch: abs(j.watch), after: typeof j.after === "string" ? j.after : { move: abs(j.after.move) } })),
    ...(cfg.server ? { server: { ...cfg.server, root: abs(cfg.server.root) } } : {}),
  };
}

const SAMPLES: Record<string, string> = {
  "README.txt": "These files are mirrored to /photos on the demo server every 15 seconds.\nAdd, change or delete one and watch the next run.\n",
  "2026/beach.txt": "(a photo of a beach)\n",
  "2026/mountain.txt": "(a photo of a mountain)\n",
};

/** Create the demo folders, and the sample files the mirror starts from (existing ones are left alone). */
async function prepare(cfg: ResolvedConfig): Promise<void> {
  for (const job of cfg.uploads) await mkdir(job.watch, { recursive: true });
  for (const job of cfg.mirrors) {
    await mkdir(job.localRoot, { recursive: true });
    for (const [name, text] of Object.entries(SAMPLES)) {
      const path = join(job.localRoot, name);
      if (existsSync(path)) continue;
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, text);
    }
  }
}

/** Register `ferry demo`. */
export function registerDemo(program: Command): void {
  program.command("demo")
    .description("start the embedded server on loopback and the daemon on config/demo.yaml: drop files and watch them arrive")
    .option("--dir <folder>", "where var/demo is created (default: the current folder)", ".")
    .option("--port <n>", "the embedded server's port (default 2121)")
    .action(async (flags: { dir: string; port?: string }) => {
      const port = flags.port === undefined ? undefined : Number(flags.port);
      if (port !== undefined && (!Number.isInteger(port) || port < 1 || port > 65535)) throw new UsageError(`--port ${flags.port}: expected a port number 1-65535`);
      const base = resolve(flags.dir);
      const cfg = await demoConfig(base, port);
      await prepare(cfg);
      const show = (p: string) => `./${relative(process.cwd(), p)}`;
      const say = (line: string) => process.stdout.write(`${line}\n`);
      const logger = createLogger({ level: process.env.FERRY_LOG_LEVEL ?? cfg.logLevel });
      await runDaemonUntilSignal(cfg, logger, {
        onReady: (daemon) => {
          const server = cfg.server!;
          const outbox = cfg.uploads[0]!;
          const mirror = cfg.mirrors[0]!;
          say(`ferry demo: FTP server on ftp://127.0.0.1:${daemon.serverPort ?? "?"} (user demo, password demo), files in ${show(server.root)}`);
          say(`  drop a file into ${show(outbox.watch)} and watch it arrive in ${show(join(server.root, outbox.remoteDir))}`);
          say(`  (it is sent once it has not changed for ${outbox.stableMs / 1000} s, then moved to ${outbox.after.kind === "move" ? show(outbox.after.dir) : outbox.after.kind})`);
          say(`  ${show(mirror.localRoot)} is mirrored to ${show(join(server.root, mirror.remoteRoot))} on the schedule "${mirror.schedule}"`);
          // Printed as this very process was started, so it works pasted as is (README: `ferry` is not on the PATH after npm install).
          say(`  in another terminal: ${selfCommand(["status", "--config", show(cfg.file)])}`);
          say("  Ctrl-C stops both");
        },
        events: {
          "job:succeeded": ({ job, durationMs }) => {
            if (job.kind === "upload") say(`arrived: ${show(job.payload.path)} → ${outboxTarget(cfg, job.payload.path)} (${job.payload.size} bytes, ${durationMs} ms)`);
            else say(`mirror ${job.name}: run finished in ${durationMs} ms`);
          },
          "job:failed": ({ job, error }) => say(`${job.kind} ${job.name}: attempt failed, will retry: ${(error as Error).message}`),
          "job:deferred": ({ job, reason }) => say(`${job.kind} ${job.name}: waiting: ${reason}`),
          "job:dead": ({ job, error }) => say(`${job.kind} ${job.name}: gave up: ${(error as Error).message}`),
        },
      });
      say("ferry demo: stopped");
    });
}

function outboxTarget(cfg: ResolvedConfig, path: string): string {
  const job = cfg.uploads[0]!;
  return `${job.remote}:${job.remoteDir}/${relative(job.watch, path)}`;
}
