import type { Command } from "commander";
import type { RemoteEntry } from "../../client/index.js";
import { createLogger } from "../../log/index.js";
import { addTlsOptions, resolveRemote, type TlsFlags } from "../credentials.js";
import { openRemote, toCliError } from "../remoteSession.js";

/** Register `ferry ls URL [--long] [--json]`. */
export function registerLs(program: Command): void {
  addTlsOptions(program.command("ls")
    .description("list a remote folder")
    .argument("<url>", "ftp://user@host/path")
    .option("-l, --long", "type, size and modification time too")
    .option("--json", "print the entries as JSON on stdout"))
    .action(async (url: string, flags: { long?: boolean; json?: boolean } & TlsFlags) => {
      const target = resolveRemote(url, process.env, flags);
      const logger = createLogger({ level: process.env.FERRY_LOG_LEVEL ?? "warn" });
      const session = await openRemote(target, { max: 1, logger });
      let entries: RemoteEntry[];
      try {
        entries = await session.pool.use((c) => c.list(target.url.path));
      } catch (err) {
        throw toCliError(`ls ${target.display}`, err);
      } finally {
        await session.close();
      }
      entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      process.stdout.write(flags.json ? `${JSON.stringify(entries.map(toJson), null, 2)}\n` : entries.map((e) => formatEntry(e, flags.long ?? false)).join(""));
    });
}

function toJson(e: RemoteEntry): Record<string, unknown> {
  return {
    name: e.name, type: e.type, ...(e.size !== undefined ? { size: e.size } : {}),
    ...(e.modifiedAt ? { modifiedAt: e.modifiedAt.toISOString() } : {}),
    ...(e.rawModifiedAt !== undefined ? { rawModifiedAt: e.rawModifiedAt } : {}),
    ...(e.target !== undefined ? { target: e.target } : {}),
  };
}

/** One line of `ls` output; folders end in "/", as `ls -F` shows them. */
export function formatEntry(e: RemoteEntry, long: boolean): string {
  const name = `${e.name}${e.type === "dir" ? "/" : ""}${e.target !== undefined ? ` -> ${e.target}` : ""}`;
  if (!long) return `${name}\n`;
  const kind = { file: "-", dir: "d", symlink: "l", other: "?" }[e.type];
  const size = e.type === "dir" ? "-" : String(e.size ?? "?");
  // Precise times print in UTC; a LIST date is shown as the server sent it (local to the server).
  const when = e.modifiedAt ? e.modifiedAt.toISOString().slice(0, 19).replace("T", " ") + "Z" : (e.rawModifiedAt ?? "-");
  return `${kind} ${size.padStart(12)}  ${when.padEnd(20)}  ${name}\n`;
}
