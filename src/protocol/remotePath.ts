import { posix } from "node:path";
import { ProtocolError } from "./errors.js";

// node:path's posix functions are pure string operations; no I/O happens here.

/**
 * Resolve `path` against the current directory `cwd` into an absolute, normalised remote
 * path ("/a/b"). ".." never climbs above "/", as RFC 959 virtual roots behave; empty
 * segments and "." vanish.
 */
export function resolveRemotePath(cwd: string, path: string): string {
  const joined = path.startsWith("/") ? path : `${cwd}/${path}`;
  const out: string[] = [];
  for (const seg of joined.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") out.pop();
    else out.push(seg);
  }
  return "/" + out.join("/");
}

/** Join remote path segments with "/" (no normalisation of "..": use resolveRemotePath for that). */
export function joinRemotePath(...parts: string[]): string {
  return posix.join(...parts);
}

/** The parent of an absolute remote path; "/" for "/". */
export function remoteDirname(path: string): string {
  return posix.dirname(path);
}

/** The last segment of a remote path. */
export function remoteBasename(path: string): string {
  return posix.basename(path);
}

/**
 * The longest name accepted from a listing, in UTF-8 bytes: NAME_MAX of Linux, macOS and the
 * BSDs. A longer name could not be written locally anyway (ENAMETOOLONG), and failing there
 * would fail the whole job instead of this one entry (FAULTS B1).
 */
export const MAX_NAME_BYTES = 255;

/** Why a single name from a listing is unsafe, or undefined when it is fine (FAULTS I5). */
export function unsafeNameReason(name: string): string | undefined {
  if (name === "") return "empty name";
  if (name === "." || name === "..") return `"${name}" is not a file name`;
  if (name.includes("/")) return "name contains '/'";
  if (name.includes("\\")) return "name contains '\\'";
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(name)) return "name contains a control character";
  // "C:x" is a drive-relative path on Windows: it would leave the destination there.
  if (/^[A-Za-z]:/.test(name)) return "name starts with a drive letter";
  const bytes = Buffer.byteLength(name, "utf8");
  if (bytes > MAX_NAME_BYTES) return `name longer than ${MAX_NAME_BYTES} bytes (${bytes})`;
  return undefined;
}

/**
 * Refuse a name from a listing that could escape the destination or corrupt a later
 * command: "..", "/", "\\", NUL and control characters (README, "Safety rules").
 */
export function assertSafeName(name: string): string {
  const reason = unsafeNameReason(name);
  if (reason) throw new ProtocolError(`unsafe name in listing (${reason}): ${JSON.stringify(name.slice(0, 80))}`);
  return name;
}
