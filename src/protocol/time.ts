import { ProtocolError } from "./errors.js";

/**
 * Format a time as RFC 3659's time-val "YYYYMMDDHHMMSS[.sss]" in UTC (section 2.3), as
 * MDTM, MLST's modify fact and MFMT use it. Milliseconds are written only when non-zero.
 */
export function formatTimeVal(date: Date): string {
  const iso = date.toISOString(); // 2024-02-11T10:15:30.123Z
  const base = iso.slice(0, 19).replace(/[-:T]/g, "");
  const ms = iso.slice(20, 23);
  return ms === "000" ? base : `${base}.${ms}`;
}

/** Parse a time-val (UTC). Fractions of any length are accepted and kept to the millisecond. */
export function parseTimeVal(text: string): Date {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.(\d{1,9}))?$/.exec(text.trim());
  if (!m) throw new ProtocolError(`not a time-val YYYYMMDDHHMMSS[.sss]: ${JSON.stringify(text.slice(0, 40))}`);
  const [, y, mo, d, h, mi, s, frac] = m.map((v) => v ?? "") as string[];
  const ms = frac ? Number(frac.padEnd(3, "0").slice(0, 3)) : 0;
  const t = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), ms);
  const date = new Date(t);
  // Date.UTC rolls 20241340 over into the next year; a real time-val never does that.
  if (Number.isNaN(t) || date.getUTCMonth() !== Number(mo) - 1 || date.getUTCDate() !== Number(d) ||
      Number(h) > 23 || Number(mi) > 59 || Number(s) > 60) {
    throw new ProtocolError(`not a valid time: ${JSON.stringify(text)}`);
  }
  return date;
}
