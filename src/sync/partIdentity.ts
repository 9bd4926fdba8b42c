/**
 * What a partial file was cut from, so a resume never stitches two versions of a file
 * together (FAULTS B11, issue 12 failure #4).
 *
 * A partial (`.NAME.ferry-part`) holds the first n bytes of some version of the source. A
 * resume (`REST n`) appends the rest of the version there is now; if the source changed in
 * between, the result holds two versions and, on a server without checksums, passes the
 * size check. So before any byte is written to a partial, ferry records the source's
 * identity, and before it resumes it compares that record with the source as it is now:
 *
 * - downloads: the remote file's size, modify time (MLST `modify`, else MDTM) and MLST
 *   `unique` fact where the server gives one;
 * - uploads: the local file's size, mtime, ctime, device and inode (a rewrite that puts the
 *   old mtime back still changes the ctime).
 *
 * When they differ, or there is no record (a partial of an older ferry, of another tool, or
 * whose record could not be written) and no checksum will prove the result, the transfer
 * starts over from byte 0 and says so (`TransferOutcome.restarted`). With a server that can
 * hash, a partial without a record is still resumed: the final checksum covers the whole file
 * and a mismatch starts over (transferWithRetry). A record that contradicts the source always
 * starts over, checksum or not (resuming would only waste the bytes).
 *
 * Records are small JSON files in the state folder (`<state>/partials/`, beside the mirrors'
 * sync state), one per partial, keyed by the partial's path (and, for uploads, the local
 * file): the remote partial of an upload has no local neighbour, and keeping the download
 * records there too keeps hidden files out of the destination (no tree scan, watcher or
 * `rmdir` ever meets them). They are written atomically (an exclusive, never-followed temp
 * file, then a rename), removed once the file is published or the transfer starts over, and
 * ones older than RECORD_MAX_AGE_MS are pruned (their partials were abandoned). A record
 * that cannot be written costs only the resume, never the transfer.
 *
 * Order: a download's old partial is removed before its new record is written, and an
 * upload that starts over because its source changed removes the remote partial first, so a
 * crash between the record and the first byte cannot leave a record vouching for old bytes.
 *
 * Limits: a change that keeps the size and lands within the same second as the old modify
 * time (servers report whole seconds) on a server without `unique` and without HASH cannot be
 * seen; nothing but a checksum could. An upload that starts from byte 0 over a leftover
 * remote partial ferry did not decide to discard (e.g. a mirror's partial older than its
 * source) writes its record a few milliseconds before STOR truncates that partial; a crash in
 * exactly that window, then a resume, is the one remaining way to stitch, and only without HASH.
 */
import { createHash, randomBytes } from "node:crypto";
import { constants, type Stats } from "node:fs";
import { mkdir, open, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { SyncClient } from "./remote.js";
import { defaultStateDir } from "./state.js";
import { canHash } from "./verify.js";

/** The identity of a partial's source: the facts that change when its content does. */
export interface SourceIdentity {
  size: number;
  /** Modify time in ms (remote: MLST/MDTM, whole seconds on most servers). */
  mtimeMs?: number;
  /** MLST `unique` fact (remote). */
  unique?: string;
  /** Local sources only: a rewrite restoring the old mtime still moves the ctime. */
  ctimeMs?: number;
  ino?: number;
  dev?: number;
}

/** Where records live and which remote they belong to; both optional. */
export interface PartRecordOptions {
  /** The state folder; default FERRY_STATE_DIR / XDG_STATE_HOME/ferry (defaultStateDir). */
  stateDir?: string;
  /** Names the remote (e.g. its redacted URL or the mirror's state file), compared when both sides have one. */
  origin?: string;
}

/** Which transfer a record belongs to. */
export interface PartKey {
  kind: "download" | "upload";
  /** The local file (destination of a download, source of an upload). */
  localPath: string;
  remotePath: string;
  records?: PartRecordOptions;
}

interface PartRecord {
  version: 1;
  kind: "download" | "upload";
  localPath: string;
  remotePath: string;
  origin?: string;
  source: SourceIdentity;
  recordedAt: string;
}

/** The decision before a resume: where to start, and why it starts over when it does. */
export interface ResumeDecision {
  offset: number;
  /** Why the transfer starts from byte 0 although a partial was there. */
  restarted?: string;
}

/** Records of abandoned partials are pruned after this long. */
export const RECORD_MAX_AGE_MS = 30 * 24 * 3600 * 1000;

function recordsDir(o: PartRecordOptions | undefined): string {
  return join(o?.stateDir ?? defaultStateDir(), "partials");
}

/** The record file of one partial. */
export function recordPath(key: PartKey): string {
  const local = resolve(key.localPath);
  // A download's partial is local: its path names it. An upload's partial is remote: the
  // remote path and the local source together name it.
  const id = key.kind === "download" ? `download\n${local}` : `upload\n${key.remotePath}\n${local}`;
  return join(recordsDir(key.records), `${createHash("sha256").update(id).digest("hex").slice(0, 32)}.json`);
}

let pruned = false;

/**
 * Record the identity of the source a partial is about to be cut from. Resolves false when
 * the record could not be written: the transfer goes on, a later resume then starts over
 * (or relies on a checksum).
 */
export async function saveRecord(key: PartKey, source: SourceIdentity): Promise<boolean> {
  const file = recordPath(key);
  const body: PartRecord = {
    version: 1, kind: key.kind, localPath: resolve(key.localPath), remotePath: key.remotePath,
    ...(key.records?.origin ? { origin: key.records.origin } : {}), source, recordedAt: new Date().toISOString(),
  };
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  try {
    await mkdir(recordsDir(key.records), { recursive: true, mode: 0o700 });
    if (!pruned) { pruned = true; await pruneRecords(recordsDir(key.records)); }
    // Exclusive and never through a symlink: a link planted at the name cannot redirect the write.
    const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      await fh.writeFile(JSON.stringify(body));
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
    return true;
  } catch {
    await rm(tmp, { force: true }).catch(() => {});
    return false;
  }
}

/** The recorded identity of a partial's source, or undefined (none, unreadable, another kind). */
export async function loadRecord(key: PartKey): Promise<PartRecord | undefined> {
  try {
    const parsed = JSON.parse(await readFile(recordPath(key), "utf8")) as Partial<PartRecord>;
    if (parsed.version !== 1 || parsed.kind !== key.kind || typeof parsed.source?.size !== "number") return undefined;
    if (parsed.localPath !== resolve(key.localPath)) return undefined;
    return parsed as PartRecord;
  } catch {
    return undefined; // missing, or torn by a crash mid-write: no record, so no resume on trust
  }
}

/** Forget a partial's record (published, or starting over). Never throws. */
export async function dropRecord(key: PartKey): Promise<void> {
  remembered.delete(memoKey(key));
  await rm(recordPath(key), { force: true }).catch(() => {});
}

async function pruneRecords(dir: string): Promise<void> {
  const now = Date.now();
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const full = join(dir, name);
    const st = await stat(full).catch(() => undefined);
    if (st && now - st.mtimeMs > RECORD_MAX_AGE_MS) await rm(full, { force: true }).catch(() => {});
  }
}

/**
 * How `recorded` and `current` differ, in words, or undefined when every fact both know
 * agrees. `proven` is false when they share no fact beyond the size (the size alone proves
 * nothing: B11's failure was a same-size change).
 */
export function identityChange(recorded: SourceIdentity, current: SourceIdentity): { change?: string; proven: boolean } {
  const changes: string[] = [];
  let proven = false;
  if (recorded.size !== current.size) changes.push(`size ${recorded.size} → ${current.size}`);
  if (recorded.mtimeMs !== undefined && current.mtimeMs !== undefined) {
    proven = true;
    if (!sameTime(recorded.mtimeMs, current.mtimeMs)) changes.push(`modified ${iso(recorded.mtimeMs)} → ${iso(current.mtimeMs)}`);
  }
  if (recorded.unique !== undefined && current.unique !== undefined) {
    proven = true;
    if (recorded.unique !== current.unique) changes.push(`unique id ${recorded.unique} → ${current.unique}`);
  }
  if (recorded.ctimeMs !== undefined && current.ctimeMs !== undefined && recorded.ctimeMs !== current.ctimeMs) {
    changes.push(`status changed ${iso(recorded.ctimeMs)} → ${iso(current.ctimeMs)}`);
  }
  if (recorded.ino !== undefined && current.ino !== undefined && (recorded.ino !== current.ino || recorded.dev !== current.dev)) {
    changes.push("replaced by another file (inode)");
  }
  return { ...(changes.length > 0 ? { change: changes.join(", ") } : {}), proven };
}

/**
 * Same modify time. When one side has whole seconds only (MDTM or LIST-derived against an
 * MLSD with milliseconds, or a fake), the seconds are compared: a scan and a re-check may
 * come from different commands.
 */
function sameTime(a: number, b: number): boolean {
  if (a === b) return true;
  return (a % 1000 === 0 || b % 1000 === 0) && Math.floor(a / 1000) === Math.floor(b / 1000);
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** A remote file's identity now (MLST, else SIZE+MDTM: the re-check before REST n), or undefined when it is gone. */
export async function remoteIdentity(client: SyncClient, path: string): Promise<SourceIdentity | undefined> {
  const st = await client.stat(path);
  if (!st || st.type !== "file" || st.size === undefined) return undefined;
  const unique = st.facts?.unique;
  return { size: st.size, ...(st.modifiedAt ? { mtimeMs: st.modifiedAt.getTime() } : {}), ...(unique ? { unique } : {}) };
}

/** A local file's identity now. */
export async function localIdentity(path: string): Promise<SourceIdentity> {
  const st = await stat(path);
  return { size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, ino: st.ino, dev: st.dev };
}

/**
 * Whether a partial of `offset` bytes may be resumed: its record must match the source as it
 * is now on at least one fact beyond the size, or (without a record) the server must be able
 * to checksum the result. Otherwise the transfer starts from byte 0, with the reason.
 */
export async function decideResume(client: SyncClient, key: PartKey, offset: number, size: number): Promise<ResumeDecision> {
  const side = key.kind === "download" ? "remote" : "local";
  const [record, current] = await Promise.all([
    loadRecord(key).then((r) => r ?? rememberedRecord(key)),
    key.kind === "download" ? remoteIdentity(client, key.remotePath) : localIdentity(key.localPath),
  ]);
  if (!current) return { offset: 0, restarted: `the remote file is no longer there as a file` };
  if (current.size !== size) return { offset: 0, restarted: `the ${side} file changed since it was scanned (size ${size} → ${current.size})` };
  if (record) {
    if (record.origin && key.records?.origin && record.origin !== key.records.origin) {
      return { offset: 0, restarted: `the partial was cut from another server (${record.origin})` };
    }
    const { change, proven } = identityChange(record.source, current);
    if (change) return { offset: 0, restarted: `the ${side} file changed since the partial was cut (${change})` };
    if (proven || canHash(client.features)) return { offset };
    return { offset: 0, restarted: `the ${side} file's modification time is unknown, so the partial cannot be proven to belong to it` };
  }
  if (canHash(client.features)) return { offset }; // the final checksum proves the whole file
  return { offset: 0, restarted: "no record of what the partial was cut from, and the server offers no checksum to prove a resumed file" };
}

/** The record key of a transfer. */
export function partKey(kind: PartKey["kind"], t: { localPath: string; remotePath: string; records?: PartRecordOptions }): PartKey {
  return { kind, localPath: t.localPath, remotePath: t.remotePath, ...(t.records ? { records: t.records } : {}) };
}

/**
 * Before the first byte of a download lands in its partial: record the remote file's
 * identity. The scan's size and modify time serve when there is one (no extra round trip);
 * otherwise (a LIST-only server) the file is asked (MLST, else SIZE+MDTM). Never throws: a
 * failure to ask or to write only costs a later resume.
 */
export async function recordDownloadSource(client: SyncClient,
  t: { localPath: string; remotePath: string; size: number; mtime?: Date; unique?: string; records?: PartRecordOptions }): Promise<void> {
  const asked = t.mtime ? undefined : await remoteIdentity(client, t.remotePath).catch(() => undefined);
  const source: SourceIdentity = asked && asked.size === t.size ? asked
    : { size: t.size, ...(t.mtime ? { mtimeMs: t.mtime.getTime() } : {}), ...(t.unique ? { unique: t.unique } : {}) };
  await saveRecord(partKey("download", t), source);
}

/** Before the first byte of an upload reaches the remote partial: record the local file's identity. Never throws. */
export async function recordUploadSource(t: { localPath: string; remotePath: string; records?: PartRecordOptions }): Promise<void> {
  const source = await localIdentity(t.localPath).catch(() => undefined);
  if (source) await saveRecord(partKey("upload", t), source);
}

/**
 * Small uploads (sent whole from memory, one at a time or in batches) write no record file:
 * per-file cost is what bounds a mirror of many small files. Their identity is kept in
 * memory instead, taken from the very fstat that preceded the read, so a retry in the same
 * run (attempt 2 after a cut) may still resume; after a restart of the process such a
 * partial starts over (a re-send of at most SMALL_FILE_BYTES). Bounded: oldest out first.
 */
const remembered = new Map<string, SourceIdentity>();
const REMEMBER_MAX = 10_000;

function memoKey(key: PartKey): string {
  return `${key.kind}\n${key.remotePath}\n${resolve(key.localPath)}`;
}

/** Remember the identity of a local file about to be sent whole (the stats of the open descriptor it is read from). */
export function rememberUploadSource(t: { localPath: string; remotePath: string }, st: Stats): void {
  const k = memoKey(partKey("upload", t));
  remembered.delete(k);
  remembered.set(k, { size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, ino: st.ino, dev: st.dev });
  if (remembered.size > REMEMBER_MAX) {
    const oldest = remembered.keys().next();
    if (!oldest.done) remembered.delete(oldest.value);
  }
}

function rememberedRecord(key: PartKey): PartRecord | undefined {
  const source = remembered.get(memoKey(key));
  return source && {
    version: 1, kind: key.kind, localPath: resolve(key.localPath), remotePath: key.remotePath, source, recordedAt: "",
  };
}
