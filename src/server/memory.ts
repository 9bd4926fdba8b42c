import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

type GcFunction = (options?: { type?: "minor" | "major"; execution?: "sync" | "async" }) => void;

let gc: GcFunction | undefined | null = null;

/**
 * Ask V8 for a young-generation collection (a scavenge, ~1 ms). An upload arrives as
 * 64 KiB socket chunks that die as soon as they are on disk, but V8 only collects
 * off-heap buffer memory after ~64 MB of it has piled up, which would double the
 * server's RSS during a 1 GiB upload. Scavenging every few MiB keeps it flat. Falls
 * back to doing nothing where the runtime refuses to expose gc.
 */
export function collectYoungGarbage(): void {
  if (gc === null) {
    try {
      setFlagsFromString("--expose-gc");
      gc = runInNewContext("gc") as GcFunction;
    } catch {
      gc = undefined;
    }
  }
  gc?.({ type: "minor" });
}

/** Bytes of upload between two scavenges. */
export const SCAVENGE_EVERY_BYTES = 16 * 1024 * 1024;
