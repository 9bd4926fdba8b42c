import { isIP } from "node:net";
import { ProtocolError } from "./errors.js";

// node:net's isIP is a pure string check; it is the one import from node:net allowed here.

/** A host and TCP port, as PASV/EPSV/PORT/EPRT carry them. */
export interface HostPort {
  readonly host: string;
  readonly port: number;
}

function checkPort(port: number, what: string): number {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new ProtocolError(`${what}: port ${port} is out of range 1-65535`);
  }
  return port;
}

/** Decode the six numbers "h1,h2,h3,h4,p1,p2" of PORT and of a 227 reply (RFC 959 section 4.1.2). */
export function parseHostPortNumbers(text: string, what = "PORT"): HostPort {
  const parts = text.trim().split(",");
  if (parts.length !== 6 || parts.some((p) => !/^\d{1,3}$/.test(p.trim()))) {
    throw new ProtocolError(`${what}: expected h1,h2,h3,h4,p1,p2 but got ${JSON.stringify(text.slice(0, 60))}`);
  }
  const n = parts.map((p) => Number(p.trim()));
  if (n.some((v) => v > 255)) throw new ProtocolError(`${what}: a number above 255 in ${JSON.stringify(text)}`);
  const [a, b, c, d, p1, p2] = n as [number, number, number, number, number, number];
  return { host: `${a}.${b}.${c}.${d}`, port: checkPort(p1 * 256 + p2, what) };
}

/** Encode an IPv4 address and port as "h1,h2,h3,h4,p1,p2". */
export function formatHostPortNumbers(hp: HostPort): string {
  if (isIP(hp.host) !== 4) throw new ProtocolError(`PORT/PASV carry IPv4 only, not ${hp.host}`);
  checkPort(hp.port, "PORT");
  return `${hp.host.split(".").join(",")},${hp.port >> 8},${hp.port & 255}`;
}

/** Parse the text of a 227 reply; the numbers may or may not be in parentheses. */
export function parsePasvReply(text: string): HostPort {
  const m = /(\d{1,3}(?:\s*,\s*\d{1,3}){5})/.exec(text);
  if (!m?.[1]) throw new ProtocolError(`cannot find an address in the PASV reply ${JSON.stringify(text)}`);
  return parseHostPortNumbers(m[1].replace(/\s/g, ""), "PASV");
}

/** The text of a 227 reply for `hp`. */
export function formatPasvReply(hp: HostPort): string {
  return `Entering Passive Mode (${formatHostPortNumbers(hp)}).`;
}

/**
 * Parse the port of a 229 reply: "(|||port|)" where "|" may be any printable delimiter
 * (RFC 2428 section 3).
 */
export function parseEpsvReply(text: string): number {
  const m = /\(([!-~])\1\1(\d+)\1\)/.exec(text);
  if (!m?.[2]) throw new ProtocolError(`cannot find a port in the EPSV reply ${JSON.stringify(text)}`);
  return checkPort(Number(m[2]), "EPSV");
}

/** The text of a 229 reply for `port`. */
export function formatEpsvReply(port: number): string {
  return `Entering Extended Passive Mode (|||${checkPort(port, "EPSV")}|)`;
}

/** Parse an EPRT argument "|1|1.2.3.4|6275|" or "|2|::1|6275|" (RFC 2428 section 2). */
export function parseEprtArg(arg: string): HostPort & { family: 4 | 6 } {
  const d = arg[0];
  if (!d || d.charCodeAt(0) < 33 || d.charCodeAt(0) > 126) throw new ProtocolError("EPRT: missing delimiter");
  const parts = arg.split(d);
  if (parts.length !== 5 || parts[0] !== "" || parts[4] !== "") {
    throw new ProtocolError(`EPRT: expected |af|address|port| but got ${JSON.stringify(arg.slice(0, 80))}`);
  }
  const [, af, host = "", portText = ""] = parts;
  if (af !== "1" && af !== "2") throw new ProtocolError(`EPRT: unsupported network protocol ${JSON.stringify(af)}`);
  const family = af === "1" ? 4 : 6;
  if (isIP(host) !== family) throw new ProtocolError(`EPRT: ${JSON.stringify(host)} is not an IPv${family} address`);
  if (!/^\d{1,5}$/.test(portText)) throw new ProtocolError(`EPRT: bad port ${JSON.stringify(portText)}`);
  return { family, host, port: checkPort(Number(portText), "EPRT") };
}

/** Encode an EPRT argument for `hp`. */
export function formatEprtArg(hp: HostPort): string {
  const family = isIP(hp.host);
  if (family === 0) throw new ProtocolError(`EPRT: ${hp.host} is not an IP address`);
  return `|${family === 4 ? 1 : 2}|${hp.host}|${checkPort(hp.port, "EPRT")}|`;
}

/** An IPv4-mapped IPv6 address ("::ffff:1.2.3.4") as plain IPv4; others unchanged. */
export function unmapIPv4(host: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(host);
  return m?.[1] ?? host;
}

/** True for addresses a client cannot route to from elsewhere: RFC 1918, loopback, link-local, CGNAT. */
export function isPrivateAddress(host: string): boolean {
  const h = unmapIPv4(host);
  if (isIP(h) === 4) {
    const [a = 0, b = 0] = h.split(".").map(Number);
    return a === 10 || a === 127 || a === 0 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) ||
      (a === 169 && b === 254) || (a === 100 && b >= 64 && b <= 127);
  }
  const l = h.toLowerCase();
  return l === "::1" || l === "::" || l.startsWith("fe80:") || l.startsWith("fc") || l.startsWith("fd");
}

/** True when two textual addresses name the same host (IPv4-mapped forms compared as IPv4). */
export function sameAddress(a: string, b: string): boolean {
  return unmapIPv4(a).toLowerCase() === unmapIPv4(b).toLowerCase();
}
