import type { Stats } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import { basename, join, relative, sep } from "node:path";
import { watch as chokidarWatch, type FSWatcher } from "chokidar";
import picomatch from "picomatch";
import type { Logger } from "../log/index.js";
import type { UploadJob } from "./config.js";

/** Names never uploaded: hidden files and folders, and the usual temporary names of editors, browsers and copy tools. */
export const DEFAULT_IGNORE: readonly string[] = [".*", "*.tmp", "*.temp", "*.part", "*.partial", "*.swp", "*~", "*.crdownload", "*.ferry-part"];

/** A file found stable (and marked ready, when the job wants a marker). */
export interface StableFile {
  readonly path: string;
  readonly size: number;
  readonly mtimeMs: number;
}

/** Options of an OutboxWatcher. */
export interface OutboxWatcherOptions {
  readonly job: UploadJob;
  /** Called once per stable version of a file; the caller enqueues it. */
  readonly onStable: (file: StableFile) => void;
  readonly logger: Logger;
  /** The file-system watcher; default chokidar's (tests hand in one that misses events). */
  readonly watch?: (path: string, options: Parameters<typeof chokidarWatch>[1]) => Pick<FSWatcher, "on" | "once" | "close">;
}

interface Pending {
  size: number;
  mtimeMs: number;
  timer?: NodeJS.Timeout;
}

/**
 * Whether a path below the outbox is ignored: any hidden segment, a temporary name, or one of
 * the job's own globs (a glob without "/" tests each name, one with "/" the relative path).
 */
export function createIgnoreTest(extra: readonly string[]): (rel: string) => boolean {
  const byName = picomatch([...DEFAULT_IGNORE, ...extra.filter((g) => !g.includes("/"))], { dot: true });
  const pathGlobs = extra.filter((g) => g.includes("/"));
  const byPath = pathGlobs.length > 0 ? picomatch(pathGlobs, { dot: true }) : () => false;
  return (rel) => rel !== "" && (rel.split("/").some((seg) => byName(seg)) || byPath(rel));
}

/**
 * Watches one outbox folder with chokidar and reports each file once it is stable: its size and
 * mtime unchanged over the job's window (and its marker present, when the job sets one). Every
 * event for a file re-arms its one timer, so a burst of events coalesces into one report. Files
 * already there at start are reported too, so nothing dropped while the daemon was down is lost.
 * The folder is also listed every `rescanMs` (as Syncthing rescans beside its watcher): a file
 * whose event never came (chokidar can miss one when a name is deleted and written again at
 * once; a network filesystem sends none) is found there and goes through the same stability
 * check. A file is reported again only when its size or mtime changed since its last report.
 */
export class OutboxWatcher {
  // parameters
  readonly #job: UploadJob;
  readonly #onStable: (file: StableFile) => void;
  readonly #log: Logger;
  readonly #ignored: (rel: string) => boolean;
  // internal state
  readonly #pending = new Map<string, Pending>();
  /** What each file was when last reported ("size:mtimeMs"), so a rescan reports only changes. */
  readonly #reported = new Map<string, string>();
  readonly #watch: NonNullable<OutboxWatcherOptions["watch"]>;
  #watcher: Pick<FSWatcher, "on" | "once" | "close"> | undefined;
  #rescanTimer: NodeJS.Timeout | undefined;
  #rescanning = false;
  #closed = false;

  constructor(options: OutboxWatcherOptions) {
    this.#job = options.job;
    this.#onStable = options.onStable;
    this.#log = options.logger.child({ job: options.job.name, watch: options.job.watch });
    this.#ignored = createIgnoreTest(options.job.ignore);
    this.#watch = options.watch ?? chokidarWatch;
  }

  /** Starts watching (the folder must exist: see checkWatchFolders); resolves once the initial scan is done. */
  async start(): Promise<void> {
    const watcher = this.#watch(this.#job.watch, {
      ignoreInitial: false,
      alwaysStat: true,
      ...(this.#job.recursive ? {} : { depth: 0 }),
      ignored: (path: string) => this.#isIgnored(path),
    });
    this.#watcher = watcher;
    watcher.on("add", (path: string, st?: Stats) => this.#observe(path, st));
    watcher.on("change", (path: string, st?: Stats) => this.#observe(path, st));
    watcher.on("unlink", (path: string) => this.#forget(path));
    watcher.on("error", (err: unknown) => this.#log.error({ err }, "watcher error"));
    await new Promise<void>((resolve) => watcher.once("ready", () => resolve()));
    const rescanMs = this.#job.rescanMs ?? 0;
    if (rescanMs > 0) {
      this.#rescanTimer = setInterval(() => void this.rescan(), rescanMs);
      this.#rescanTimer.unref();
    }
    this.#log.info({ stableMs: this.#job.stableMs, rescanMs, marker: this.#job.marker ?? null }, "watching outbox");
  }

  /**
   * List the folder and put every file the watcher has not reported as it is now (new, or
   * changed since its report) through the stability check. Returns how many it found.
   */
  async rescan(): Promise<number> {
    if (this.#closed || this.#rescanning) return 0;
    this.#rescanning = true;
    let found = 0;
    try {
      const entries = await readdir(this.#job.watch, { withFileTypes: true, recursive: this.#job.recursive }).catch((err: unknown) => {
        this.#log.warn({ err }, "outbox rescan: cannot list the folder");
        return [];
      });
      for (const e of entries) {
        if (this.#closed) break;
        const path = join(e.parentPath ?? e.path, e.name);
        if (this.#isIgnored(path) || this.#isMarker(path) || this.#pending.has(path)) continue;
        if (!e.isFile() && !e.isSymbolicLink()) continue;
        const st = await stat(path).catch(() => undefined);
        if (!st?.isFile() || this.#reported.get(path) === versionOf(st) || this.#pending.has(path)) continue;
        found++;
        this.#log.debug({ file: path }, "outbox rescan found a file the watcher did not report");
        this.#observe(path, st);
      }
    } finally {
      this.#rescanning = false;
    }
    return found;
  }

  /** Stops watching and drops pending timers (pending files are found again at the next start). */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#rescanTimer);
    for (const p of this.#pending.values()) clearTimeout(p.timer);
    this.#pending.clear();
    await this.#watcher?.close();
  }

  /** Files seen but not yet stable. */
  get pendingCount(): number {
    return this.#pending.size;
  }

  #isIgnored(path: string): boolean {
    const rel = relative(this.#job.watch, path).split(sep).join("/");
    return this.#ignored(rel);
  }

  #isMarker(path: string): boolean {
    return this.#job.marker !== undefined && path.endsWith(this.#job.marker) && basename(path) !== this.#job.marker;
  }

  #observe(path: string, st: Stats | undefined): void {
    if (this.#closed) return;
    if (this.#isMarker(path)) {
      // The marker arrived: its file may already be stable and waiting for it.
      const target = path.slice(0, -this.#job.marker!.length);
      const p = this.#pending.get(target);
      if (p && p.timer === undefined) this.#arm(target, p, 0);
      return;
    }
    const p = this.#pending.get(path) ?? { size: -1, mtimeMs: -1 };
    p.size = st?.size ?? -1;
    p.mtimeMs = st?.mtimeMs ?? -1;
    this.#pending.set(path, p);
    this.#arm(path, p, this.#job.stableMs);
  }

  #arm(path: string, p: Pending, delayMs: number): void {
    clearTimeout(p.timer);
    p.timer = setTimeout(() => void this.#check(path, p), delayMs);
  }

  #forget(path: string): void {
    const p = this.#pending.get(path);
    if (p) clearTimeout(p.timer);
    this.#pending.delete(path);
    this.#reported.delete(path);
  }

  /** Stat the file: unchanged since the event that armed the timer a window ago → stable. */
  async #check(path: string, p: Pending): Promise<void> {
    p.timer = undefined;
    if (this.#closed || this.#pending.get(path) !== p) return;
    const st = await stat(path).catch(() => undefined);
    if (this.#closed || this.#pending.get(path) !== p) return;
    if (!st?.isFile()) return this.#forget(path);
    if (st.size !== p.size || st.mtimeMs !== p.mtimeMs) {
      // Changed without an event reaching us yet (or no stats came with it): a full window from now.
      p.size = st.size;
      p.mtimeMs = st.mtimeMs;
      return this.#arm(path, p, this.#job.stableMs);
    }
    if (this.#job.marker && !(await stat(path + this.#job.marker).then((m) => m.isFile(), () => false))) {
      this.#log.debug({ file: path }, "stable; waiting for its marker");
      return; // stays pending without a timer; the marker's add event re-arms it
    }
    this.#pending.delete(path);
    this.#reported.set(path, versionOf(st));
    this.#onStable({ path, size: st.size, mtimeMs: st.mtimeMs });
  }
}

function versionOf(st: { size: number; mtimeMs: number }): string {
  return `${st.size}:${st.mtimeMs}`;
}
