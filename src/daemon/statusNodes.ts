// The fleet's nodes for `ferry status` on a Postgres queue (issue 16 part 4). Imported only
// then: the single box never loads pg.
import type { NodeStatus } from "../fleet/index.js";

/** One node of the fleet as `ferry status` shows it (--json: times as ISO strings). */
export interface NodeView {
  readonly id: string;
  readonly host: string;
  readonly pid: number;
  readonly version: string;
  readonly startedAt: string;
  readonly lastHeartbeatAt: string;
  /** Jobs its workers hold now. */
  readonly leases: number | null;
  /** No heartbeat for longer than the lost threshold: its leases return as they expire. */
  readonly lost: boolean;
  /** When it stopped cleanly, else null. */
  readonly stoppedAt: string | null;
}

const iso = (ms: number): string => new Date(ms).toISOString();

/** Every node registered on the Postgres database `url`, as `ferry status` shows them. */
export async function listFleetNodes(url: string, leaseMs: number): Promise<NodeView[]> {
  const [{ default: pg }, { PgNodes }] = await Promise.all([import("pg"), import("../fleet/index.js")]);
  const pool = new pg.Pool({ connectionString: url, max: 1, connectionTimeoutMillis: 10_000, application_name: "ferry status" });
  // An idle connection dropped by the server must not crash the command: the query reports it.
  pool.on("error", () => undefined);
  try {
    // The lost threshold follows the lease the daemons run with, as theirs does.
    return (await new PgNodes({ pool, leaseMs }).list()).map(nodeView);
  } finally {
    await pool.end();
  }
}

export function nodeView(n: NodeStatus): NodeView {
  return {
    id: n.id, host: n.host, pid: n.pid, version: n.version, startedAt: iso(n.startedAt), lastHeartbeatAt: iso(n.lastHeartbeatAt),
    leases: n.leases ?? null, lost: n.lost, stoppedAt: n.stoppedAt === undefined ? null : iso(n.stoppedAt),
  };
}

/** The NodeStatus of a view, for formatNodes. */
export function nodeStatusOf(v: NodeView): NodeStatus {
  return {
    id: v.id, host: v.host, pid: v.pid, version: v.version, startedAt: Date.parse(v.startedAt), lastHeartbeatAt: Date.parse(v.lastHeartbeatAt),
    leases: v.leases ?? undefined, lost: v.lost, stoppedAt: v.stoppedAt === null ? undefined : Date.parse(v.stoppedAt),
  };
}
