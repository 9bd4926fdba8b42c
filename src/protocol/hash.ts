/** Hash algorithms ferry knows, in order of preference. */
export const HASH_ALGORITHMS = ["SHA-256", "SHA-1", "MD5", "CRC32"] as const;
export type HashAlgorithm = (typeof HASH_ALGORITHMS)[number];

/** The legacy single-algorithm command for each algorithm (draft-bryan-ftp-hash section 1). */
export const LEGACY_HASH_COMMANDS: Readonly<Record<HashAlgorithm, string>> = {
  "SHA-256": "XSHA256",
  "SHA-1": "XSHA1",
  MD5: "XMD5",
  CRC32: "XCRC",
};

/** Node's crypto name for an algorithm; CRC32 has none and is computed separately. */
export const NODE_HASH_NAMES: Readonly<Record<Exclude<HashAlgorithm, "CRC32">, string>> = {
  "SHA-256": "sha256",
  "SHA-1": "sha1",
  MD5: "md5",
};

/** Match a name as servers spell it ("sha-256", "SHA256", "sha256") to an algorithm, or undefined. */
export function parseHashAlgorithm(name: string): HashAlgorithm | undefined {
  const n = name.trim().toUpperCase().replace(/[-_]/g, "");
  return HASH_ALGORITHMS.find((a) => a.replace("-", "") === n);
}

/**
 * Parse the FEAT line of HASH, e.g. "SHA-1;SHA-256*;MD5;CRC32": the algorithms offered and
 * the one selected (marked with "*").
 */
export function parseHashFeature(params: string): { offered: HashAlgorithm[]; selected?: HashAlgorithm } {
  const offered: HashAlgorithm[] = [];
  let selected: HashAlgorithm | undefined;
  for (const raw of params.split(";")) {
    const star = raw.trim().endsWith("*");
    const alg = parseHashAlgorithm(raw.replace("*", ""));
    if (!alg) continue;
    offered.push(alg);
    if (star) selected = alg;
  }
  return selected ? { offered, selected } : { offered };
}

/** Format the HASH FEAT parameters with `selected` starred. */
export function formatHashFeature(selected: HashAlgorithm): string {
  return HASH_ALGORITHMS.map((a) => (a === selected ? `${a}*` : a)).join(";");
}
