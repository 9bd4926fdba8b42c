/** The kind of a parsed listing entry. */
export type ParsedEntryType = "file" | "dir" | "symlink" | "other";

/** One entry parsed from a LIST, MLSD or MLST line. */
export interface ParsedEntry {
  name: string;
  type: ParsedEntryType;
  size?: number;
  /** Only from MLSD/MLST "modify" (UTC, RFC 3659): precise enough for sync decisions. */
  modifiedAt?: Date;
  /** LIST date text exactly as the server sent it; never drives sync decisions. */
  rawModifiedAt?: string;
  /** Symlink target from a LIST line "a -> b", or MLSD's OS.unix=slink:target. */
  target?: string;
  /** MLSD/MLST facts, keys lower-cased. */
  facts?: Readonly<Record<string, string>>;
}

/**
 * A listing format as an interchangeable strategy (STYLE guideline 4): `testLine` says
 * whether a line looks like this format, `parseLine` turns a line into an entry (or
 * undefined for lines that carry none, such as "total 12"), `transformList` post-processes.
 */
export interface ListingFormat {
  readonly name: "unix" | "dos" | "mlsx";
  testLine(line: string): boolean;
  parseLine(line: string): ParsedEntry | undefined;
  transformList(entries: ParsedEntry[]): ParsedEntry[];
}
