// The pieces several nodes sharing one Postgres queue need besides the queue itself (issue 16):
// fleet-wide connection slots, the nodes registry, cron ticks claimed once. Each has a local
// implementation for the single box (SQLite) with the same interface.
import pg from "pg";
import type { Logger } from "../log/index.js";
import type { ConnectionSlots } from "./ConnectionSlots.js";
import type { Every, FleetNodes, NodeTiming } from "./FleetNodes.js";
import { LocalNodes } from "./LocalNodes.js";
import { LocalSlots } from "./LocalSlots.js";
import { PgNodes } from "./PgNodes.js";
import { PgSlots } from "./PgSlots.js";
import { LocalTicks, PgTicks, type TickClaims } from "./TickClaims.js";
import type { NodeTakenOverError } from "./errors.js";

export { abortReason, SlotsClosedError, type ConnectionSlots, type ReleaseSlot, type SlotUsage } from "./ConnectionSlots.js";
export { LocalSlots } from "./LocalSlots.js";
export { PgSlots, slotKey, type PgSlotsOptions } from "./PgSlots.js";
export { formatNodes, nodeTiming, type Every, type FleetNodes, type NodeIdentity, type NodeStatus, type NodeTiming } from "./FleetNodes.js";
export { LocalNodes, type LocalNodesOptions } from "./LocalNodes.js";
export { PgNodes, type PgNodesOptions } from "./PgNodes.js";
export { LocalTicks, PgTicks, type PgTicksOptions, type TickClaims } from "./TickClaims.js";
export { FleetSetupError, isConnectionLoss, NodeIdInUseError, NodeTakenOverError } from "./errors.js";

/** The fleet pieces of one daemon. */
export interface Fleet {
  readonly slots: ConnectionSlots;
  readonly nodes: FleetNodes;
  readonly ticks: TickClaims;
  /** Records a clean stop, frees this node's slots, closes the connections. */
  close(): Promise<void>;
}

/** Common options of openFleet. */
export interface FleetOptions extends NodeTiming {
  readonly logger?: Logger;
  /** Default Date.now. */
  readonly clock?: () => number;
  /** The heartbeat timer; default setInterval (unref'd). */
  readonly every?: Every;
}

/** A fleet on Postgres: the queue's database URL (password in the URL or PGPASSWORD). */
export interface PgFleetOptions extends FleetOptions {
  readonly url: string;
  /** Called when another start took this node id (see PgNodes); default: log it as an error. */
  readonly onTakenOver?: (err: NodeTakenOverError) => void;
}

/** A single box: this process is the whole fleet. */
export interface LocalFleetOptions extends FleetOptions {
  readonly local: true;
  readonly nodeId: string;
  /** Jobs leased by this daemon now, for `leases` in the node list. */
  readonly countLeases?: () => Promise<number>;
}

/**
 * Opens the fleet pieces: on Postgres, a small pool for the registry and tick claims plus one
 * dedicated session for the connection slots (whose advisory locks live as long as it does);
 * the tables come from migrations/postgres/0002_fleet.sql, applied by the queue's migrator.
 */
export async function openFleet(options: PgFleetOptions | LocalFleetOptions): Promise<Fleet> {
  const clock = options.clock ?? Date.now;
  if ("local" in options) {
    const nodes = new LocalNodes({ clock, ...(options.countLeases ? { countLeases: options.countLeases } : {}) });
    const slots = new LocalSlots();
    return { slots, nodes, ticks: new LocalTicks(), close: async () => {
      await nodes.close();
      await slots.close();
    } };
  }
  const pool = new pg.Pool({ connectionString: options.url, max: 2, connectionTimeoutMillis: 10_000, application_name: "ferry fleet" });
  // An idle pooled connection that dies (Postgres restart) emits here; the pool replaces it.
  pool.on("error", (err) => options.logger?.warn({ err: err.message }, "fleet: an idle Postgres connection was lost"));
  let slots: PgSlots;
  try {
    slots = await PgSlots.open({ connection: { connectionString: options.url }, ...(options.logger ? { logger: options.logger } : {}) });
  } catch (err) {
    await pool.end();
    throw err;
  }
  const nodes = new PgNodes({ ...options, pool, clock });
  return {
    slots, nodes, ticks: new PgTicks({ pool, clock }),
    close: async () => {
      await nodes.close();
      await slots.close();
      await pool.end();
    },
  };
}
