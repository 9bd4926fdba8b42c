import type { Command } from "commander";
import { once } from "node:events";
import type { RemoteEntry } from "../../client/index.js";
import { createLogger } from "../../log/index.js";
import { LISTING_DEFAULTS, parseLimit, type RejectedLine } from "../../protocol/index.js";
import { addTlsOptions, resolveRemote, type TlsFlags } from "../credentials.js";
import { UsageError } from "../exitCodes.js";
import { commandLogOptions } from "../reportedWarnings.js";
import { openRemote, toCliError } from "../remoteSession.js";

interface LsFlags extends TlsFlags {
  long?: boolean;
  json?: boolean;
  unsorted?: boolean;
  maxDirEntries: string;
}

/** A refused entry as `ls` reports it. */
interface Skipped { name: string; reason: string }

/** Register `ferry ls URL [--long] [--json] [--unsorted] [--max-dir-entries N]`. */
export function registerLs(program: Command): void {
  addTlsOptions(program.command("ls")
    .description("list a remote folder")
    .argument("<url>", "ftp://user@host/path")
    .option("-l, --long", "type, size and modification time too")
    .option("--json", "print {entries, skipped} as JSON on stdout")
    .option("-U, --unsorted", "print entries in the server's order as they arrive, holding none (for huge folders)")
    .option("--max-dir-entries <n>", "refuse a listing with more entries than this", String(LISTING_DEFAULTS.maxDirEntries)))
    .action(async (url: string, flags: LsFlags) => {
      let maxEntries: number;
      try {
        maxEntries = parseLimit(flags.maxDirEntries, "--max-dir-entries");
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
      const target = resolveRemote(url, process.env, flags);
      const logger = createLogger(commandLogOptions());
      const out = new LsOutput(flags);
      const session = await openRemote(target, { max: 1, logger });
      try {
        // Sorted output holds the entries (slim copies, bounded by the cap); --unsorted prints
        // each as it is parsed and holds nothing (FAULTS B8: memory stays flat).
        await session.pool.use((c) => c.list(target.url.path, {
          maxEntries, onEntry: (e) => out.entry(e), onRejected: (r) => out.rejected(r),
          // stdout to a pipe is asynchronous: without waiting for it, output piles up in memory.
          afterChunk: () => (process.stdout.writableNeedDrain ? once(process.stdout, "drain").then(() => undefined) : undefined),
        }));
      } catch (err) {
        throw toCliError(`ls ${target.display}`, err);
      } finally {
        await session.close();
      }
      await out.end();
    });
}

/** Writes `ls` output: sorted at the end, or each entry at once with --unsorted. */
class LsOutput {
  readonly #flags: LsFlags;
  /**
   * Sorted output: per entry one flat string "NAME\0LINE" (names never hold NUL: refused), so
   * a plain sort orders by name and nothing else of the entry - no object, no slice of the
   * listing line - stays alive: about 60 bytes an entry instead of about 350.
   */
  readonly #held: string[] = [];
  readonly #skipped: Skipped[] = [];
  #skippedCount = 0;
  #streamed = 0;

  constructor(flags: LsFlags) {
    this.#flags = flags;
  }

  entry(e: RemoteEntry): void {
    // Facts are not printed: leave them behind rather than hold a map per entry.
    const slim: RemoteEntry = { name: e.name, type: e.type, ...(e.size !== undefined ? { size: e.size } : {}),
      ...(e.modifiedAt ? { modifiedAt: e.modifiedAt } : {}), ...(e.rawModifiedAt !== undefined ? { rawModifiedAt: e.rawModifiedAt } : {}),
      ...(e.target !== undefined ? { target: e.target } : {}) };
    if (!this.#flags.unsorted) {
      const line = this.#flags.json ? JSON.stringify(toJson(slim)) : formatEntry(slim, this.#flags.long ?? false);
      // The round trip through a Buffer makes one flat string (a concatenation or a regex
      // capture would keep the pieces, and with them the whole listing line, alive).
      this.#held.push(Buffer.from(`${e.name}\0${line}`, "utf8").toString("utf8"));
      return;
    }
    if (this.#flags.json) process.stdout.write(`${this.#streamed === 0 ? '{\n  "entries": [\n' : ",\n"}    ${JSON.stringify(toJson(slim))}`);
    else process.stdout.write(formatEntry(slim, this.#flags.long ?? false));
    this.#streamed++;
  }

  rejected(r: RejectedLine): void {
    this.#skippedCount++;
    // A hostile listing may refuse millions of lines: report the first thousand by name.
    if (this.#skipped.length < 1000) this.#skipped.push({ name: r.name ?? r.line, reason: r.reason });
  }

  async end(): Promise<void> {
    const out = process.stdout;
    if (!this.#flags.unsorted) this.#held.sort();
    const lineOf = (held: string): string => held.slice(held.indexOf("\0") + 1);
    if (this.#flags.json) {
      const skipped = JSON.stringify(this.#skipped);
      const more = this.#skippedCount > this.#skipped.length ? `,\n  "skippedCount": ${this.#skippedCount}` : "";
      if (this.#flags.unsorted) {
        out.write(`${this.#streamed === 0 ? '{\n  "entries": [' : "\n  "}],\n  "skipped": ${skipped}${more}\n}\n`);
      } else {
        out.write('{\n  "entries": [');
        await writeAll(this.#held, (h, i) => `${i > 0 ? "," : ""}\n    ${lineOf(h)}`);
        out.write(`${this.#held.length ? "\n  " : ""}],\n  "skipped": ${skipped}${more}\n}\n`);
      }
      return;
    }
    if (!this.#flags.unsorted) await writeAll(this.#held, lineOf);
    if (this.#skippedCount > 0) {
      // On stderr, so a script reading names from stdout never gets a hostile one.
      for (const s of this.#skipped) process.stderr.write(`skipped ${JSON.stringify(s.name)}: ${s.reason}\n`);
      process.stderr.write(`${this.#skippedCount} entries rejected (unsafe names or unreadable lines from the server)\n`);
    }
  }
}

/** Write `items` to stdout in batches, waiting while a pipe is full: no second copy of the output in memory. */
async function writeAll(items: readonly string[], line: (item: string, index: number) => string): Promise<void> {
  for (let i = 0; i < items.length;) {
    let batch = "";
    for (const end = Math.min(items.length, i + 1000); i < end; i++) batch += line(items[i]!, i);
    if (!process.stdout.write(batch)) await once(process.stdout, "drain");
  }
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
