import type { FleetNodes, NodeIdentity, NodeStatus } from "./FleetNodes.js";

/** Options of LocalNodes. */
export interface LocalNodesOptions {
  /** Jobs leased by this node's workers now (the SQLite queue's count); without it `leases` is unknown. */
  readonly countLeases?: () => Promise<number>;
  /** Default Date.now. */
  readonly clock?: () => number;
}

/**
 * The single box's registry: this one process. A second daemon on the same SQLite file is
 * already refused by the daemon's lock file, so there is nothing to check at register.
 */
export class LocalNodes implements FleetNodes {
  // parameters
  readonly #countLeases: (() => Promise<number>) | undefined;
  readonly #clock: () => number;
  // internal state
  #self: { identity: NodeIdentity; startedAt: number; lastHeartbeatAt: number; stoppedAt: number | undefined } | undefined;

  constructor(options: LocalNodesOptions = {}) {
    this.#countLeases = options.countLeases;
    this.#clock = options.clock ?? Date.now;
  }

  async register(identity: NodeIdentity): Promise<void> {
    if (this.#self && this.#self.stoppedAt === undefined) throw new Error(`fleet nodes: node "${this.#self.identity.id}" is registered already in this process`);
    const now = this.#clock();
    this.#self = { identity, startedAt: now, lastHeartbeatAt: now, stoppedAt: undefined };
  }

  async heartbeat(): Promise<void> {
    if (this.#self) this.#self.lastHeartbeatAt = this.#clock();
  }

  async list(): Promise<NodeStatus[]> {
    const self = this.#self;
    if (!self) return [];
    // This process answers, so it is alive: its heartbeat is now.
    if (self.stoppedAt === undefined) self.lastHeartbeatAt = this.#clock();
    const leases = this.#countLeases ? await this.#countLeases() : undefined;
    return [{ ...self.identity, startedAt: self.startedAt, lastHeartbeatAt: self.lastHeartbeatAt, leases, lost: false, stoppedAt: self.stoppedAt }];
  }

  async close(): Promise<void> {
    if (this.#self && this.#self.stoppedAt === undefined) this.#self.stoppedAt = this.#clock();
  }
}
