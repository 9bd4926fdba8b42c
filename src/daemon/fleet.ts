// The daemon's place in the fleet (issue 16): the shared registry on a Postgres queue, this
// process alone on SQLite. The Postgres half is imported only when used, so the single box
// never loads pg (the idle daemon's memory budget, bench/README.md).
import { hostname } from "node:os";
import type { Fleet, NodeTakenOverError } from "../fleet/index.js";
import { LocalNodes } from "../fleet/LocalNodes.js";
import { LocalSlots } from "../fleet/LocalSlots.js";
import { LocalTicks } from "../fleet/TickClaims.js";
import type { Logger } from "../log/index.js";
import type { Queue } from "../queue/index.js";
import { FERRY_VERSION } from "../version.js";

/** Options of joinFleet. */
export interface JoinFleetOptions {
  readonly queue: Queue;
  /** The config's `database:` (the Postgres URL the queue was opened with). */
  readonly database: string;
  /** The config's `node:`. */
  readonly node: string;
  readonly logger: Logger;
  /** Another daemon started under this node id (Postgres only). */
  readonly onTakenOver: (err: NodeTakenOverError) => void;
}

/**
 * Opens the fleet pieces for the queue's driver and registers this daemon under its node id.
 * NodeIdInUseError when a live daemon elsewhere has the id; the fleet is closed again then.
 */
export async function joinFleet(o: JoinFleetOptions): Promise<Fleet> {
  let fleet: Fleet;
  if (o.queue.driver === "postgres") {
    const { openFleet } = await import("../fleet/index.js");
    fleet = await openFleet({ url: o.database, leaseMs: o.queue.leaseMs, logger: o.logger, onTakenOver: o.onTakenOver });
  } else {
    const mine = `${o.node}:${process.pid}:`;
    const nodes = new LocalNodes({
      countLeases: async () => (await o.queue.listJobs({ states: ["leased"], limit: 100_000 })).filter((j) => j.leaseOwner?.startsWith(mine) === true).length,
    });
    const slots = new LocalSlots();
    fleet = { slots, nodes, ticks: new LocalTicks(), close: async () => {
      await nodes.close();
      await slots.close();
    } };
  }
  try {
    await fleet.nodes.register({ id: o.node, host: hostname(), pid: process.pid, version: FERRY_VERSION });
  } catch (err) {
    await fleet.close().catch(() => undefined);
    throw err;
  }
  return fleet;
}
