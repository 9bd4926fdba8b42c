import { randomUUID } from "node:crypto";
import type pg from "pg";
import { silentLogger, type Logger } from "../log/index.js";
import { FleetSetupError, isConnectionLoss, NodeIdInUseError, NodeTakenOverError } from "./errors.js";
import { every as realEvery, nodeTiming, type Every, type FleetNodes, type NodeIdentity, type NodeStatus, type NodeTiming } from "./FleetNodes.js";

/** Options of PgNodes. */
export interface PgNodesOptions extends NodeTiming {
  readonly pool: pg.Pool;
  /** Default Date.now. Heartbeats carry each node's own clock: keep the nodes' clocks in sync (NTP); the lost threshold is far above usual skew. */
  readonly clock?: () => number;
  /** The heartbeat timer; default setInterval (unref'd). */
  readonly every?: Every;
  /** Called when a heartbeat finds the node id taken by another start; default: log it as an error. */
  readonly onTakenOver?: (err: NodeTakenOverError) => void;
  readonly logger?: Logger;
}

/** Stopped and lost nodes are forgotten after a week. */
const FORGET_AFTER_MS = 7 * 86_400_000;

interface NodeRow {
  id: string;
  host: string;
  pid: number;
  version: string;
  instance: string;
  started_at: string;
  last_heartbeat_at: string;
  stopped_at: string | null;
  leases: string;
}

/**
 * The nodes registry in the shared database (table fleet_nodes, migrations/postgres/0002).
 * Each start gets a fresh `instance`; heartbeats renew only the row of their own start, so
 * a daemon whose id was taken over (after it was lost) learns it at its next heartbeat.
 */
export class PgNodes implements FleetNodes {
  // parameters
  readonly #pool: pg.Pool;
  readonly #clock: () => number;
  readonly #every: Every;
  readonly #heartbeatMs: number;
  readonly #lostAfterMs: number;
  readonly #onTakenOver: ((err: NodeTakenOverError) => void) | undefined;
  readonly #logger: Logger;
  // internal state
  #self: { id: string; instance: string } | undefined;
  #stopTimer: (() => void) | undefined;
  #beating: Promise<void> | undefined;

  constructor(options: PgNodesOptions) {
    this.#pool = options.pool;
    this.#clock = options.clock ?? Date.now;
    this.#every = options.every ?? realEvery;
    ({ heartbeatMs: this.#heartbeatMs, lostAfterMs: this.#lostAfterMs } = nodeTiming(options));
    this.#onTakenOver = options.onTakenOver;
    this.#logger = options.logger ?? silentLogger();
  }

  async register(identity: NodeIdentity): Promise<void> {
    if (this.#self) throw new Error(`fleet nodes: node "${this.#self.id}" is registered already by this process`);
    const now = this.#clock();
    const instance = randomUUID();
    const c = await this.#pool.connect();
    try {
      await c.query("BEGIN");
      // Two starts of one id at once: the second waits for the first's commit, then sees it.
      await c.query("SELECT pg_advisory_xact_lock(hashtext('ferry:node:' || $1))", [identity.id]);
      const { rows } = await c.query<NodeRow>("SELECT * FROM fleet_nodes WHERE id = $1", [identity.id]);
      const other = rows[0];
      if (other && other.stopped_at === null && now - Number(other.last_heartbeat_at) < this.#lostAfterMs && !(other.host === identity.host && other.pid === identity.pid)) {
        const beat = Number(other.last_heartbeat_at);
        throw new NodeIdInUseError(identity.id, other.host, other.pid, beat,
          `node id "${identity.id}" is in use by a live daemon on ${other.host} (pid ${other.pid}, last heartbeat ${Math.round((now - beat) / 1000)} s ago): give this daemon its own \`node:\` in the config, or stop the other one (it counts as gone ${Math.round(this.#lostAfterMs / 1000)} s after its last heartbeat)`);
      }
      await c.query(
        `INSERT INTO fleet_nodes (id, host, pid, version, instance, started_at, last_heartbeat_at, stopped_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6, NULL)
         ON CONFLICT (id) DO UPDATE SET host = $2, pid = $3, version = $4, instance = $5, started_at = $6, last_heartbeat_at = $6, stopped_at = NULL`,
        [identity.id, identity.host, identity.pid, identity.version, instance, now]);
      await c.query("DELETE FROM fleet_nodes WHERE last_heartbeat_at < $1 AND id <> $2", [now - FORGET_AFTER_MS, identity.id]);
      await c.query("COMMIT");
    } catch (err) {
      await c.query("ROLLBACK").catch(() => undefined);
      throw setupError(err, `register node "${identity.id}"`);
    } finally {
      c.release();
    }
    this.#self = { id: identity.id, instance };
    this.#stopTimer = this.#every(this.#heartbeatMs, () => void this.#tick());
  }

  async heartbeat(): Promise<void> {
    const self = this.#self;
    if (!self) throw new Error("fleet nodes: heartbeat before register");
    const { rowCount } = await this.#pool.query("UPDATE fleet_nodes SET last_heartbeat_at = $3 WHERE id = $1 AND instance = $2 AND stopped_at IS NULL",
      [self.id, self.instance, this.#clock()]);
    if (rowCount === 1) return;
    const { rows } = await this.#pool.query<NodeRow>("SELECT host, pid FROM fleet_nodes WHERE id = $1", [self.id]);
    const by = rows[0] ? `another daemon on ${rows[0].host} (pid ${rows[0].pid})` : "nobody (the row was removed)";
    throw new NodeTakenOverError(`node id "${self.id}" was taken over by ${by} while this daemon missed its heartbeats; two daemons must not share a node id: stop one, or give each its own \`node:\``);
  }

  async list(): Promise<NodeStatus[]> {
    const now = this.#clock();
    let rows: NodeRow[];
    try {
      ({ rows } = await this.#pool.query<NodeRow>(
        // A worker's lease_owner is `${node}:${pid}:worker-N`; left() avoids LIKE's wildcards in ids.
        `SELECT n.*, (SELECT count(*) FROM jobs j WHERE j.state = 'leased' AND left(j.lease_owner, length(n.id) + 1) = n.id || ':') AS leases
           FROM fleet_nodes n ORDER BY n.id`));
    } catch (err) {
      throw setupError(err, "list nodes");
    }
    return rows.map((r) => {
      const lastHeartbeatAt = Number(r.last_heartbeat_at);
      const stoppedAt = r.stopped_at === null ? undefined : Number(r.stopped_at);
      return {
        id: r.id, host: r.host, pid: r.pid, version: r.version, startedAt: Number(r.started_at), lastHeartbeatAt,
        leases: Number(r.leases), lost: stoppedAt === undefined && now - lastHeartbeatAt >= this.#lostAfterMs, stoppedAt,
      };
    });
  }

  async close(): Promise<void> {
    this.#stopTimer?.();
    this.#stopTimer = undefined;
    await this.#beating;
    const self = this.#self;
    if (!self) return;
    this.#self = undefined;
    await this.#pool.query("UPDATE fleet_nodes SET stopped_at = $3 WHERE id = $1 AND instance = $2", [self.id, self.instance, this.#clock()])
      .catch((err: unknown) => this.#logger.warn({ err: (err as Error).message }, "fleet nodes: could not record the clean stop; the node will show as lost"));
  }

  /** One timer heartbeat: never overlapping, never throwing into the timer. */
  async #tick(): Promise<void> {
    if (this.#beating || !this.#self) return;
    this.#beating = this.heartbeat().catch((err: unknown) => {
      if (err instanceof NodeTakenOverError) {
        this.#stopTimer?.();
        this.#stopTimer = undefined;
        if (this.#onTakenOver) this.#onTakenOver(err);
        else this.#logger.error({ event: "fleet.node-taken-over", err: err.message }, err.message);
      } else this.#logger.warn({ event: "fleet.heartbeat-failed", err: (err as Error).message, connection: isConnectionLoss(err) }, "fleet nodes: heartbeat failed; trying again at the next one");
    }).finally(() => (this.#beating = undefined));
    await this.#beating;
  }
}

/** A missing table names the migration to run; other errors get a context prefix. */
function setupError(err: unknown, what: string): unknown {
  if (err instanceof NodeIdInUseError) return err;
  if ((err as { code?: string }).code === "42P01") {
    return new FleetSetupError(`${what}: ${(err as Error).message}: the Postgres queue migrations (migrations/postgres/) were not applied; start one daemon with this database to migrate it`, { cause: err });
  }
  return err;
}
