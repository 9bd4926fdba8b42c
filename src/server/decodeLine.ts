/**
 * Decode one command line (the bytes before its LF).
 *
 * Line-end policy (A10): the line ends at LF; "CRLF" and a bare LF are both accepted, as
 * vsftpd and pyftpdlib do, and the trailing CR is dropped. A CR anywhere else stays in the
 * line, and the session answers it with 501 (I6): it is never taken as a line end.
 *
 * Telnet (RFC 854) commands are removed with bounds before decoding: IAC IAC stands for one
 * 0xFF byte, IAC + a command byte (IP, DM, ...) and IAC + WILL/WONT/DO/DONT + option are
 * dropped, and an IAC at the end of the line or before an ordinary byte is dropped alone.
 * Then anything before the first letter goes: clients send IAC IP, IAC DM ahead of ABOR
 * (RFC 959 section 4.1.3), and when DM travels as TCP urgent data it is missing from the
 * stream.
 */
export function decodeLine(line: Buffer): string {
  const bytes = stripTelnet(line);
  let start = 0;
  while (start < bytes.length && !isAsciiLetter(bytes[start]!)) start++;
  let end = bytes.length;
  if (end > start && bytes[end - 1] === 0x0d) end--;
  return bytes.toString("utf8", start, end);
}

const IAC = 0xff;
/** WILL, WONT, DO, DONT: followed by one option byte. */
const FIRST_NEGOTIATION = 0xfb;
/** SE..GA (0xF0..0xFA): two-byte commands. */
const FIRST_COMMAND = 0xf0;

/** The line without Telnet commands; every read stays inside `line`. */
export function stripTelnet(line: Buffer): Buffer {
  if (!line.includes(IAC)) return line;
  const out = Buffer.allocUnsafe(line.length);
  let n = 0;
  for (let i = 0; i < line.length; i++) {
    const b = line[i]!;
    if (b !== IAC) {
      out[n++] = b;
      continue;
    }
    const next = line[i + 1];
    if (next === undefined) break; // an unterminated IAC at the end: dropped
    if (next === IAC) {
      out[n++] = IAC;
      i++;
    } else if (next >= FIRST_NEGOTIATION) {
      i += 2; // IAC, verb, option (an option missing at the end is simply gone)
    } else if (next >= FIRST_COMMAND) {
      i++;
    }
    // IAC before an ordinary byte: the IAC alone is dropped, the byte is kept.
  }
  return out.subarray(0, n);
}

function isAsciiLetter(b: number): boolean {
  return (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a);
}
