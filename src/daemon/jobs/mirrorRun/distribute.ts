import type { QueueDriverName } from "../../../queue/Queue.js";
import type { MirrorJob } from "../../config.js";

/** A mirror's `distribute` setting: "auto" (default) splits runs only on a shared queue. */
export type DistributeMode = "auto" | "on" | "off";

/**
 * Whether the daemon runs this mirror as a distributed run (a plan job, then parts any node may
 * lease, then a finish) rather than as one job. "auto" (the default) means yes only on a queue
 * several nodes share (Postgres): on one box's own SQLite queue, splitting buys nothing and
 * costs a job row per part, so the single-job path stays.
 */
export function isDistributed(cfg: Pick<MirrorJob, "distribute">, driver: QueueDriverName): boolean {
  const mode: DistributeMode = cfg.distribute ?? "auto";
  switch (mode) {
    case "on": return true;
    case "off": return false;
    case "auto": return driver === "postgres";
    default: {
      const never: never = mode;
      throw new Error(`unknown distribute mode ${JSON.stringify(never)}`);
    }
  }
}
