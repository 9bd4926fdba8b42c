import type { TransferOp } from "../../../sync/index.js";
import type { PayloadOf } from "../../../queue/index.js";

/** One file of a part, as its payload carries it. */
export type PartOp = PayloadOf<"mirror-part">["ops"][number];

/** How big one part may grow. */
export interface PartLimits {
  /** Most files in one part; default 100. */
  readonly files: number;
  /** Most bytes in one part; default 256 MiB. A file bigger than this is a part of its own. */
  readonly bytes: number;
}

/** Default part size: small enough that a lost node costs little redone work, big enough that job rows stay few. */
export const DEFAULT_PART_LIMITS: PartLimits = { files: 100, bytes: 256 * 1024 * 1024 };

/**
 * The plan's transfers, in plan order (by path, so a folder's files stay together and upload
 * batches still form), cut into parts of at most `limits.files` files and `limits.bytes`
 * bytes to send; a file over the byte limit goes alone.
 */
export function splitIntoParts(ops: readonly TransferOp[], limits: PartLimits = DEFAULT_PART_LIMITS): TransferOp[][] {
  const parts: TransferOp[][] = [];
  let current: TransferOp[] = [];
  let bytes = 0;
  for (const op of ops) {
    const size = op.size - (op.resumeFrom ?? 0);
    if (current.length > 0 && (current.length >= limits.files || bytes + size > limits.bytes)) {
      parts.push(current);
      current = [];
      bytes = 0;
    }
    current.push(op);
    bytes += size;
  }
  if (current.length > 0) parts.push(current);
  return parts;
}

/** A plan's TransferOp as a part's payload carries it (JSON: times as ms). */
export function toPartOp(op: TransferOp): PartOp {
  return {
    path: op.path, size: op.size, reason: op.reason,
    ...(op.mtime ? { mtimeMs: op.mtime.getTime() } : {}), ...(op.srcStamp !== undefined ? { srcStamp: op.srcStamp } : {}),
    ...(op.resumeFrom ? { resumeFrom: op.resumeFrom } : {}),
  };
}

/** Back from the payload to what executePlan runs. */
export function fromPartOp(op: PartOp, direction: "upload" | "download"): TransferOp {
  return {
    kind: direction, path: op.path, size: op.size, reason: op.reason,
    ...(op.mtimeMs !== undefined ? { mtime: new Date(op.mtimeMs) } : {}), ...(op.srcStamp !== undefined ? { srcStamp: op.srcStamp } : {}),
    ...(op.resumeFrom ? { resumeFrom: op.resumeFrom } : {}),
  };
}
