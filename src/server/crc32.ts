import * as zlib from "node:zlib";

// zlib.crc32 arrived in Node 20.15/22.2; older Node 20 releases lack it, so a table-driven
// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320, as zlib and XCRC use) backs it up.
const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 of `data` continuing from `previous` (0 to start), computed by the table. */
export function crc32Table(data: Uint8Array, previous = 0): number {
  let c = (previous ^ 0xffffffff) >>> 0;
  for (let i = 0; i < data.length; i++) c = (TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8)) >>> 0;
  return (c ^ 0xffffffff) >>> 0;
}

const native = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;

/** CRC-32 of `data` continuing from `previous`: zlib's when Node has it, else the table. */
export function crc32(data: Uint8Array, previous = 0): number {
  return native ? native(data, previous) : crc32Table(data, previous);
}
