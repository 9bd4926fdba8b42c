import { Transform, type TransformCallback } from "node:stream";

// TYPE A (RFC 959 section 3.1.1.1): the wire carries CRLF line ends; the disk holds LF.

/** Disk to wire: a bare LF becomes CRLF; an existing CRLF is left alone (no doubled CR). */
export function toNetworkAscii(): Transform {
  let lastWasCr = false;
  return new Transform({
    transform(chunk: Buffer, _enc, done: TransformCallback) {
      const out: number[] = [];
      for (const b of chunk) {
        if (b === 0x0a && !lastWasCr) out.push(0x0d);
        out.push(b);
        lastWasCr = b === 0x0d;
      }
      done(null, Buffer.from(out));
    },
  });
}

/** Wire to disk: CRLF becomes LF; a CR not followed by LF is kept. */
export function fromNetworkAscii(): Transform {
  let heldCr = false;
  return new Transform({
    transform(chunk: Buffer, _enc, done: TransformCallback) {
      const out: number[] = [];
      for (const b of chunk) {
        if (heldCr && b !== 0x0a) out.push(0x0d);
        heldCr = b === 0x0d;
        if (!heldCr) out.push(b);
      }
      done(null, Buffer.from(out));
    },
    flush(done: TransformCallback) {
      done(null, heldCr ? Buffer.from([0x0d]) : undefined);
    },
  });
}
