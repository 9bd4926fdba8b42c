/** Who a daemon is, as it registers. */
export interface NodeIdentity {
  /** The config's `node:` (default the host name); unique among live daemons. */
  readonly id: string;
  readonly host: string;
  readonly pid: number;
  /** ferry's version. */
  readonly version: string;
}

/** One node as `ferry status` shows it. */
export interface NodeStatus extends NodeIdentity {
  /** When this daemon started (ms since epoch). */
  readonly startedAt: number;
  readonly lastHeartbeatAt: number;
  /** Jobs leased by its workers now (lease_owner `${id}:…`); undefined where the queue cannot tell. */
  readonly leases: number | undefined;
  /** No heartbeat for longer than the lost threshold: its leases return when they expire. */
  readonly lost: boolean;
  /** Set when the daemon stopped cleanly. */
  readonly stoppedAt: number | undefined;
}

/** The nodes sharing a queue (issue 16 part 4). */
export interface FleetNodes {
  /**
   * Records this daemon under its node id and starts heartbeats. NodeIdInUseError when another
   * live daemon (fresh heartbeat, other host or pid) has the id.
   */
  register(identity: NodeIdentity): Promise<void>;
  /** Renews this node's heartbeat (the timer calls it); NodeTakenOverError when another start took the id. */
  heartbeat(): Promise<void>;
  /** Every node known, by id. */
  list(): Promise<NodeStatus[]>;
  /** Stops the heartbeats and records a clean stop. */
  close(): Promise<void>;
}

/** Timing of the nodes registry. */
export interface NodeTiming {
  /** Time between two heartbeats, in ms; default 5000. */
  readonly heartbeatMs?: number;
  /** The queue's lease duration, in ms; default 60000: a node is not called lost sooner. */
  readonly leaseMs?: number;
  /** No heartbeat for this long and a node is lost; default the larger of 3 heartbeats and leaseMs. */
  readonly lostAfterMs?: number;
}

/** The heartbeat interval and lost threshold, defaults applied. */
export function nodeTiming(t: NodeTiming): { heartbeatMs: number; lostAfterMs: number } {
  const heartbeatMs = t.heartbeatMs ?? 5000;
  if (!(heartbeatMs > 0)) throw new RangeError(`fleet nodes: the heartbeat interval must be > 0 ms, not ${heartbeatMs}`);
  const lostAfterMs = t.lostAfterMs ?? Math.max(3 * heartbeatMs, t.leaseMs ?? 60_000);
  if (!(lostAfterMs > heartbeatMs)) throw new RangeError(`fleet nodes: the lost threshold (${lostAfterMs} ms) must be longer than the heartbeat interval (${heartbeatMs} ms)`);
  return { heartbeatMs, lostAfterMs };
}

/** Starts a repeating timer; returns its stop. Injected by tests. */
export type Every = (ms: number, fn: () => void) => () => void;

/** setInterval, not keeping the process alive. */
export const every: Every = (ms, fn) => {
  const t = setInterval(fn, ms);
  t.unref();
  return () => clearInterval(t);
};

/** Lines for `ferry status`: one per node, lost ones first-class. */
export function formatNodes(nodes: readonly NodeStatus[], now: number): string[] {
  if (nodes.length === 0) return [];
  const live = nodes.filter((n) => n.stoppedAt === undefined);
  const lost = live.filter((n) => n.lost).length;
  const lines = [`nodes: ${live.length - lost} up${lost > 0 ? `, ${lost} LOST` : ""}${live.length < nodes.length ? `, ${nodes.length - live.length} stopped` : ""}`];
  for (const n of nodes) {
    const who = `  ${n.id} (${n.host}, pid ${n.pid}, ${n.version})`;
    const leases = n.leases === undefined ? "" : `, ${n.leases} lease${n.leases === 1 ? "" : "s"} held`;
    if (n.stoppedAt !== undefined) lines.push(`${who}: stopped ${ago(n.stoppedAt, now)}`);
    else if (n.lost) lines.push(`${who}: LOST, last heartbeat ${ago(n.lastHeartbeatAt, now)}${leases}${n.leases ? " (they return to the queue when they expire)" : ""}`);
    else lines.push(`${who}: up since ${new Date(n.startedAt).toISOString()}, last heartbeat ${ago(n.lastHeartbeatAt, now)}${leases}`);
  }
  return lines;
}

function ago(t: number, now: number): string {
  const ms = Math.max(0, now - t);
  const text = ms < 1000 ? `${ms} ms` : ms < 120_000 ? `${Math.round(ms / 1000)} s` : ms < 7_200_000 ? `${Math.round(ms / 60_000)} min` : `${Math.round(ms / 3_600_000)} h`;
  return `${text} ago`;
}
