import type { Logger } from "../log/index.js";
import { FtpReplyError, LISTING_DEFAULTS, LIST_FORMATS, ListingLimitError, parseStatListing, type RejectedLine, type Reply } from "../protocol/index.js";
import type { ControlChannel } from "./ControlChannel.js";
import { FtpTimeoutError, abortError } from "./errors.js";
import type { Capabilities } from "./features.js";
import type { RemoteEntry } from "./FtpClient.js";
import { isReplyError } from "./queries.js";

// Folder listings over the control connection (`STAT <path>`, RFC 959 section 4.1.3): one
// round trip, where a listing over a data connection costs EPSV, the connect, LIST/MLSD and
// its 226. Chosen per server from FEAT, then probed by use and remembered for the session
// like the other strategies (STYLE guideline 4); any doubt falls back to MLSD/LIST.

/** How a server is asked for a listing over the control connection. */
export type ControlListingForm = "STAT -M" | "STAT -a";

/**
 * The control-connection listing worth using on a server, if any. The order is decided by
 * what the mirror compares (sync/compare.ts): only MLSD/MLST times are precise (UTC, to the
 * second); a LIST date is the server's local time to the minute, or only the day for older
 * files, and never counts as an mtime. So:
 * 1. ferry's server (FEAT "STAT MLSD"): `STAT -M` sends MLSD lines, the facts MLSD has.
 * 2. a server with MLSD: MLSD over a data connection. Its `STAT` would give `ls -l` lines,
 *    losing the exact times a no-change mirror decides by (and pure-ftpd's STAT, like its
 *    LIST, splits the path at spaces and lists nothing for "a b").
 * 3. a server without MLSD (vsftpd): `STAT -a`, the same `ls -l` lines as LIST -a, one round
 *    trip instead of three; LIST when the server does not list over STAT.
 */
export function chooseControlListing(features: Capabilities): ControlListingForm | undefined {
  if ((features.raw.get("STAT") ?? "").toUpperCase().split(/\s+/).includes("MLSD")) return "STAT -M";
  if (features.mlst) return undefined;
  return "STAT -a";
}

/**
 * The argument of a STAT listing of `path`, or undefined when STAT cannot name it safely: a
 * path that begins or ends with white space (servers trim or split the argument, and could
 * list another folder), or the login folder named by "" (plain STAT is the server's status).
 * A path that starts with "-" would read as options: "./" keeps it a path.
 */
export function statArgument(path: string | undefined): string | undefined {
  const p = path === undefined || path === "" ? "." : path;
  if (/^\s|\s$/.test(p)) return undefined;
  return p.startsWith("-") ? `./${p}` : p;
}

/** Options of one control-connection listing. */
export interface ControlListOptions {
  /** Most entries (refused lines included). */
  maxEntries: number;
  signal?: AbortSignal;
  onRejected?: (rejected: RejectedLine) => void;
}

/** Empty STAT listings tolerated before a listing has proved STAT works: then the server is taken not to list over STAT. */
const MAX_UNPROVEN = 3;

/** Refused listing lines logged one by one per listing; the rest are counted. */
const MAX_REFUSALS_LOGGED = 20;

/**
 * Lists folders with STAT on one control connection and decides, by the replies, whether the
 * server really lists that way; every listing it cannot trust is made over a data connection
 * (`overData`, the client's MLSD/LIST) instead. The listing is bounded like a data listing:
 * entries, line length, bytes (LISTING_DEFAULTS.maxControlListingBytes; past it the
 * connection is closed with a ListingLimitError "controlBytes", as the reply cannot be cut
 * short any other way) and time (`deadlineMs` for the whole reply, so a server dripping a
 * byte at a time cannot hold the scan).
 */
export class ControlLister {
  // parameters
  readonly #control: ControlChannel;
  readonly #logger: Logger;
  readonly #deadlineMs: number;
  // internal state
  /** The form in use; undefined once the server has shown it does not list over STAT. */
  #form: ControlListingForm | undefined;
  /** A STAT reply has held a listing: an empty one is then an empty folder. */
  #proven = false;
  #unproven = 0;

  constructor(control: ControlChannel, features: Capabilities, options: { logger: Logger; deadlineMs: number }) {
    this.#control = control;
    this.#logger = options.logger;
    this.#deadlineMs = options.deadlineMs;
    this.#form = chooseControlListing(features);
  }

  /** The form in use, undefined when listings go over data connections. */
  get form(): ControlListingForm | undefined {
    return this.#form;
  }

  /** List `path` with STAT when the server lists that way, else (or when in doubt) with `overData`. */
  async list(path: string | undefined, options: ControlListOptions, overData: () => Promise<RemoteEntry[]>): Promise<RemoteEntry[]> {
    const arg = statArgument(path);
    const form = this.#form;
    if (!form || arg === undefined) return overData();
    const entries: RemoteEntry[] = [];
    const rejected: RejectedLine[] = [];
    let outcome;
    try {
      const reply = await this.#request(form, arg, options.signal);
      outcome = parseStatListing(reply, {
        candidates: LIST_FORMATS, maxEntries: options.maxEntries, what: `the STAT listing of ${arg}`,
        onEntry: (e) => entries.push(e), onRejected: (r) => rejected.push(r),
      });
    } catch (caught) {
      if (!isReplyError(caught)) throw caught;
      const err: FtpReplyError = caught;
      if ([500, 501, 502, 504].includes(err.code)) {
        this.#disable(`STAT is not understood (${err.code} ${err.message})`);
        return overData();
      }
      // ferry's server refuses a listing too long for the control connection before sending it.
      if (err.code === 552) return overData();
      if (err.isTransient && err.code !== 450) throw err;
      // 550, 450 and the like: a missing folder, or STAT refused (vsftpd's cmds_denied,
      // dirlist_enable=NO). The data listing gives the answer; when it lists the folder, STAT
      // was refused for a folder that exists, so it is not used again.
      const listed = await overData();
      this.#disable(`STAT ${arg} was refused (${err.code} ${err.message}) where the folder lists over a data connection`);
      return listed;
    }
    switch (outcome.kind) {
      case "listing":
        this.#proven = true;
        this.#report(rejected, arg, options.onRejected);
        return entries;
      case "unproven":
        // An empty body: an empty folder, a missing one (vsftpd, pure-ftpd) or a path the
        // server could not read (pure-ftpd and spaces). Only a data listing can tell.
        if (!this.#proven && ++this.#unproven >= MAX_UNPROVEN) this.#disable(`${MAX_UNPROVEN} STAT replies held no listing line`);
        return overData();
      case "notListing":
        this.#disable(`the STAT reply is not a listing (${outcome.reason})`);
        return overData();
      default: {
        const never: never = outcome;
        throw new Error(`unknown STAT outcome ${JSON.stringify(never)}`);
      }
    }
  }

  #disable(reason: string): void {
    if (!this.#form) return;
    this.#logger.debug({ form: this.#form, reason }, "ftp: listings go over data connections");
    this.#form = undefined;
  }

  #report(rejected: readonly RejectedLine[], arg: string, onRejected: ((r: RejectedLine) => void) | undefined): void {
    rejected.forEach((r, i) => {
      if (i < MAX_REFUSALS_LOGGED) this.#logger.warn({ line: r.line, reason: r.reason }, "ftp listing entry refused");
      onRejected?.(r);
    });
    if (rejected.length > MAX_REFUSALS_LOGGED) this.#logger.warn({ refused: rejected.length, path: arg }, "ftp listing: more entries refused than logged");
  }

  /**
   * STAT with the caps the control channel cannot apply to one reply: its bytes and its
   * total time. Both end the connection, the only way to stop a reply in mid-flow.
   */
  async #request(form: ControlListingForm, arg: string, signal: AbortSignal | undefined): Promise<Reply> {
    signal?.throwIfAborted();
    const control = this.#control;
    const max = LISTING_DEFAULTS.maxControlListingBytes;
    let bytes = 0;
    // Prepended, so it counts each chunk before the channel buffers it (the channel's own
    // cap on pending reply text is higher and would end the connection without saying why).
    const count = (chunk: Buffer): void => {
      bytes += chunk.length;
      if (bytes > max) {
        control.closeWithError(new ListingLimitError("controlBytes", max,
          `the STAT listing of ${arg} is larger than ${max} bytes, more than a control connection carries`));
      }
    };
    const onAbort = (): void => control.closeWithError(abortError(signal, `STAT ${arg}`));
    const timer = setTimeout(() => control.closeWithError(
      new FtpTimeoutError(`the STAT listing of ${arg} took longer than ${this.#deadlineMs} ms`)), this.#deadlineMs);
    control.socket.prependListener("data", count);
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      return await control.request("STAT", `${form.slice(5)} ${arg}`);
    } finally {
      clearTimeout(timer);
      control.socket.off("data", count);
      signal?.removeEventListener("abort", onAbort);
    }
  }
}
