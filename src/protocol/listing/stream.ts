import { ProtocolError } from "../errors.js";
import { unsafeNameReason } from "../remotePath.js";
import { LISTING_DEFAULTS, ListingLimitError } from "./limits.js";
import type { ListingFormat, ParsedEntry } from "./types.js";

/** A listing line that was refused, and why. */
export interface RejectedLine {
  /** The line, cut to 200 characters. */
  readonly line: string;
  /** The name the line carried, when it could be read (cut to 200 characters). */
  readonly name?: string;
  readonly reason: string;
}

/** Options of a ListingParser. */
export interface ListingParserOptions {
  /** The formats detection chooses from, in order (LIST); ignored when `format` is given. */
  readonly candidates: readonly ListingFormat[];
  /** Force a format (MLSD output is always MLSD). */
  readonly format?: ListingFormat;
  /** Most entries plus refused lines; default LISTING_DEFAULTS.maxDirEntries. */
  readonly maxEntries?: number;
  /** Most bytes; default LISTING_DEFAULTS.maxListingBytes. */
  readonly maxBytes?: number;
  /** Longest line in bytes; longer lines are refused; default LISTING_DEFAULTS.maxLineBytes. */
  readonly maxLineBytes?: number;
  /** What is listed, for error messages ("listing of /pub"). */
  readonly what?: string;
  readonly onEntry: (entry: ParsedEntry) => void;
  readonly onRejected: (rejected: RejectedLine) => void;
}

const CUT = 200;
const TOTAL_LINE = /^total\s+\d+/i;

/**
 * Parses a listing as its bytes arrive (FAULTS B8, I10): lines are cut at LF as chunks come
 * in and each is parsed and handed on at once, so neither the raw text nor a second copy of
 * it is ever held - memory is one partial line plus whatever the caller keeps. Caps on
 * bytes, entries and line length throw ListingLimitError (line length: the line is refused,
 * the listing goes on). Names that could escape a destination are refused, never returned
 * (README, "Safety rules"); the "." and ".." folders of `LIST -a` are passed over.
 */
export class ListingParser {
  // parameters
  readonly #options: ListingParserOptions;
  readonly #maxEntries: number;
  readonly #maxBytes: number;
  readonly #maxLineBytes: number;
  // internal state
  #format: ListingFormat | undefined;
  #partial: Buffer[] = [];
  #partialBytes = 0;
  /** True while the rest of an over-long line is being thrown away. */
  #discarding = false;
  #bytes = 0;
  #count = 0;
  /** Lines of the chosen format, "." and ".." and MLSD cdir/pdir included. */
  #recognised = 0;
  #firstUnknown: string | undefined;

  constructor(options: ListingParserOptions) {
    this.#options = options;
    this.#format = options.format;
    this.#maxEntries = options.maxEntries ?? LISTING_DEFAULTS.maxDirEntries;
    this.#maxBytes = options.maxBytes ?? LISTING_DEFAULTS.maxListingBytes;
    this.#maxLineBytes = options.maxLineBytes ?? LISTING_DEFAULTS.maxLineBytes;
  }

  /** The format in use (forced or detected so far). */
  get format(): ListingFormat | undefined {
    return this.#format;
  }

  /** Entries and refused lines so far. */
  get count(): number {
    return this.#count;
  }

  /**
   * Lines that had the listing's format, entries or not ("." and "..", MLSD cdir/pdir):
   * a listing of an empty folder still shows it was a listing when this is above 0.
   */
  get recognised(): number {
    return this.#recognised;
  }

  /** Feed the next bytes of the listing; throws ListingLimitError when a cap is exceeded. */
  push(chunk: Buffer): void {
    this.#bytes += chunk.length;
    if (this.#bytes > this.#maxBytes) {
      throw new ListingLimitError("bytes", this.#maxBytes, `${this.#what()} is larger than ${this.#maxBytes} bytes; refusing it`);
    }
    let from = 0;
    for (;;) {
      const nl = chunk.indexOf(10, from);
      if (nl < 0) {
        this.#keep(chunk.subarray(from));
        return;
      }
      const piece = chunk.subarray(from, nl);
      from = nl + 1;
      if (this.#discarding) {
        this.#discarding = false;
        continue;
      }
      if (this.#partialBytes + piece.length > this.#maxLineBytes) {
        this.#refuseLong(piece);
        continue;
      }
      const line = this.#partialBytes === 0 ? piece : Buffer.concat([...this.#partial, piece]);
      this.#partial = [];
      this.#partialBytes = 0;
      this.#line(line.toString("utf8"));
    }
  }

  /** The listing ended: parse a last line without LF; throws when no line had a known format. */
  end(): void {
    if (!this.#discarding && this.#partialBytes > 0) {
      const line = Buffer.concat(this.#partial).toString("utf8");
      this.#partial = [];
      this.#partialBytes = 0;
      this.#line(line);
    }
    if (!this.#format && this.#firstUnknown !== undefined) {
      throw new ProtocolError(
        `unrecognised directory listing format (first line ${JSON.stringify(this.#firstUnknown.slice(0, 100))}); ` +
          "ferry reads Unix ls -l, DOS/IIS and MLSD listings - if the server offers MLSD, enable it there",
      );
    }
  }

  #what(): string {
    return this.#options.what ?? "the listing";
  }

  #keep(rest: Buffer): void {
    if (rest.length === 0 || this.#discarding) return;
    if (this.#partialBytes + rest.length > this.#maxLineBytes) {
      this.#refuseLong(rest);
      this.#discarding = true;
      return;
    }
    // Copy: the chunk's memory may be reused by the reader (BulkReceiver recycles buffers).
    this.#partial.push(Buffer.from(rest));
    this.#partialBytes += rest.length;
  }

  #refuseLong(tail: Buffer): void {
    const head = this.#partialBytes > 0 ? Buffer.concat(this.#partial) : tail;
    this.#partial = [];
    this.#partialBytes = 0;
    this.#reject({ line: head.subarray(0, CUT).toString("utf8"), reason: `line longer than ${this.#maxLineBytes} bytes` });
  }

  #count1(): void {
    this.#count++;
    if (this.#count > this.#maxEntries) {
      throw new ListingLimitError("dirEntries", this.#maxEntries, `${this.#what()} has more than ${this.#maxEntries} entries`);
    }
  }

  #reject(r: RejectedLine): void {
    this.#count1();
    this.#options.onRejected(r);
  }

  #line(raw: string): void {
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    if (line.trim() === "") return;
    if (!this.#format) {
      this.#format = this.#options.candidates.find((f) => f.testLine(line));
      if (!this.#format) {
        // "total 12" and other preambles carry no entry; a listing of nothing else is empty.
        if (!TOTAL_LINE.test(line)) this.#firstUnknown ??= line;
        return;
      }
    }
    let entry: ParsedEntry | undefined;
    try {
      entry = this.#format.parseLine(line);
    } catch (err) {
      this.#reject({ line: line.slice(0, CUT), reason: (err as Error).message });
      return;
    }
    // LIST parsers return undefined for a line not of their format; the MLSD parser throws
    // for one and returns undefined only for the cdir/pdir lines, which are of its format.
    if (entry || this.#format.name === "mlsx") this.#recognised++;
    if (!entry) return;
    // "." and ".." folders are what `LIST -a` shows of every folder; as files they are hostile.
    if ((entry.name === "." || entry.name === "..") && entry.type === "dir") return;
    const reason = unsafeNameReason(entry.name);
    if (reason) {
      this.#reject({ line: line.slice(0, CUT), name: entry.name.slice(0, CUT), reason });
      return;
    }
    this.#count1();
    this.#options.onEntry(entry);
  }
}
