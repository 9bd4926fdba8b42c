import { ProtocolError } from "./errors.js";

/** One complete FTP reply (RFC 959 section 4.2), single- or multi-line. */
export interface Reply {
  readonly code: number;
  /** The text lines without the code prefix; a single-line reply has one line. */
  readonly lines: readonly string[];
}

/** The text of a reply, lines joined with "\n". */
export function replyText(reply: Reply): string {
  return reply.lines.join("\n");
}

/** 1yz: positive preliminary (another reply follows). */
export const isPreliminary = (code: number): boolean => code >= 100 && code < 200;
/** 2yz: positive completion. */
export const isCompletion = (code: number): boolean => code >= 200 && code < 300;
/** 3yz: positive intermediate (send the next command of the sequence). */
export const isIntermediate = (code: number): boolean => code >= 300 && code < 400;
/** 4yz or 5yz. */
export const isNegative = (code: number): boolean => code >= 400 && code < 600;

const CODE = /^(\d{3})([ -])(.*)$/s;

/**
 * Parse as many complete replies as `text` holds. Whatever follows the last complete
 * reply is returned as `rest` so the caller can prepend it to the next chunk: TCP may cut
 * anywhere, even inside "\r\n".
 *
 * Multi-line replies (RFC 959 section 4.2) start with "ddd-" and end with a line that
 * starts with the same code and a space; lines in between may start with anything, even
 * another code followed by "-".
 */
export function parseReplies(text: string): { replies: Reply[]; rest: string } {
  const replies: Reply[] = [];
  let start = 0;
  let open: { code: string; lines: string[]; from: number } | undefined;
  for (;;) {
    const nl = text.indexOf("\n", start);
    if (nl < 0) break;
    const raw = text.slice(start, nl);
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    const lineStart = start;
    start = nl + 1;
    if (open) {
      if (line.startsWith(open.code + " ")) {
        open.lines.push(line.slice(4));
        replies.push({ code: Number(open.code), lines: open.lines });
        open = undefined;
      } else {
        // Some servers repeat "ddd-" on continuation lines; strip it for the caller.
        open.lines.push(line.startsWith(open.code + "-") ? line.slice(4) : line);
      }
      continue;
    }
    if (line === "") continue; // tolerate stray blank lines between replies
    const m = CODE.exec(line);
    if (!m) throw new ProtocolError(`malformed reply line: ${JSON.stringify(line.slice(0, 80))}`);
    const [, code, sep, body] = m as unknown as [string, string, string, string];
    // RFC 959 section 4.2: the first digit is 1 to 5. "000" would pass for a preliminary reply
    // (waited past forever) and "999" for an error (the connection kept): both are garbage.
    if (code[0] === undefined || code[0] < "1" || code[0] > "5") throw new ProtocolError(`reply code ${code} is not an FTP reply code (1xx-5xx)`);
    if (sep === " ") replies.push({ code: Number(code), lines: [body] });
    else open = { code, lines: [body], from: lineStart };
  }
  const restFrom = open ? open.from : start;
  return { replies, rest: text.slice(restFrom) };
}

/**
 * Format a reply for the wire. Several lines become a multi-line reply; a continuation
 * line that happens to start with three digits is indented by one space so a client
 * cannot take it for the end (RFC 959 section 4.2).
 */
export function formatReply(code: number, text: string | readonly string[]): string {
  const lines = (typeof text === "string" ? text.split("\n") : [...text]).map(stripLineBreaks);
  if (lines.length <= 1) return `${code} ${lines[0] ?? ""}\r\n`;
  const first = `${code}-${lines[0]}\r\n`;
  const middle = lines
    .slice(1, -1)
    .map((l) => (/^\d{3}/.test(l) ? ` ${l}` : l) + "\r\n")
    .join("");
  return `${first}${middle}${code} ${lines[lines.length - 1]}\r\n`;
}

function stripLineBreaks(s: string): string {
  return s.replace(/[\r\n\0]/g, " ");
}
