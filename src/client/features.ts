import { LEGACY_HASH_COMMANDS, HASH_ALGORITHMS, parseHashFeature, type HashAlgorithm, type Reply } from "../protocol/index.js";

/** What the server offers, from its FEAT reply (RFC 2389). */
export interface Capabilities {
  /** MLST and MLSD (RFC 3659 section 7). */
  mlst: boolean;
  /** MFMT: set a file's modification time (draft-somers-ftp-mfxx). */
  mfmt: boolean;
  /** SIZE (RFC 3659 section 4). */
  size: boolean;
  /** MDTM (RFC 3659 section 3). */
  mdtm: boolean;
  /** REST STREAM: resume at an offset (RFC 3659 section 5). */
  rest: boolean;
  /** UTF8 path names (RFC 2640). */
  utf8: boolean;
  /** EPSV (RFC 2428); PASV is tried when it fails anyway. */
  epsv: boolean;
  /** Algorithms of the HASH command (draft-bryan-ftp-hash), in ferry's preference order. */
  hash: HashAlgorithm[];
  /** The algorithm HASH uses now (marked "*" in FEAT), if any. */
  hashSelected?: HashAlgorithm;
  /** Algorithms offered by the legacy XSHA256/XSHA1/XMD5/XCRC commands, in preference order. */
  legacyHash: HashAlgorithm[];
  /** Every feature line: upper-cased name -> parameters ("" when none). */
  raw: Map<string, string>;
}

/** Capabilities of a server that answered FEAT with an error: nothing is assumed. */
export function emptyCapabilities(): Capabilities {
  return { mlst: false, mfmt: false, size: false, mdtm: false, rest: false, utf8: false, epsv: false, hash: [], legacyHash: [], raw: new Map() };
}

/**
 * Parse a 211 FEAT reply. The first and last lines are "Features:" and "End"; each line in
 * between is one feature, " NAME params" (RFC 2389 section 3.2; servers differ on the
 * leading space).
 */
export function parseFeatures(reply: Reply): Capabilities {
  const caps = emptyCapabilities();
  if (reply.code !== 211) return caps;
  const lines = reply.lines.length > 2 ? reply.lines.slice(1, -1) : [];
  for (const line of lines) {
    const text = line.trim();
    if (text === "") continue;
    const sp = text.indexOf(" ");
    const name = (sp < 0 ? text : text.slice(0, sp)).toUpperCase();
    caps.raw.set(name, sp < 0 ? "" : text.slice(sp + 1).trim());
  }
  const has = (n: string): boolean => caps.raw.has(n);
  caps.mlst = has("MLST") || has("MLSD");
  caps.mfmt = has("MFMT");
  caps.size = has("SIZE");
  caps.mdtm = has("MDTM");
  caps.rest = has("REST");
  caps.utf8 = has("UTF8");
  caps.epsv = has("EPSV");
  const hash = caps.raw.get("HASH");
  if (hash !== undefined) {
    const parsed = parseHashFeature(hash);
    caps.hash = HASH_ALGORITHMS.filter((a) => parsed.offered.includes(a));
    if (parsed.selected) caps.hashSelected = parsed.selected;
  }
  caps.legacyHash = HASH_ALGORITHMS.filter((a) => has(LEGACY_HASH_COMMANDS[a]));
  return caps;
}
