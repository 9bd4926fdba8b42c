/**
 * Decode one command line: drop the CR, and any Telnet IAC/IP/DM bytes before the verb that
 * clients send ahead of ABOR (RFC 959 section 4.1.3; the DM byte may arrive as TCP urgent
 * data and be missing, so everything up to the first letter goes).
 */
export function decodeLine(line: Buffer): string {
  let start = 0;
  while (start < line.length && !isAsciiLetter(line[start]!)) start++;
  let end = line.length;
  if (end > start && line[end - 1] === 0x0d) end--;
  return line.toString("utf8", start, end);
}

function isAsciiLetter(b: number): boolean {
  return (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a);
}
