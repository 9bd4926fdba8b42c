import type { ServerLimits } from "./limits.js";

/** The limits SessionSlots applies. */
export type SlotLimits = Pick<ServerLimits,
  "maxConnections" | "maxConnectionsPerAddress" | "maxUnauthenticated" | "maxUnauthenticatedPerAddress">;

/** What to do with a new connection: take it, refuse it (421 `reason`), or take it after closing `victim`. */
export type Admission<T> =
  | { readonly kind: "admit" }
  | { readonly kind: "refuse"; readonly reason: string }
  | { readonly kind: "evict"; readonly victim: T; readonly reason: string };

/**
 * Connection accounting of the server: sessions in all and per address, and those not yet
 * logged in ("pending") in all and per address (I11, A15).
 *
 * Pending sessions have their own, lower caps so that clients which never log in cannot
 * take the slots that real users need. When the pending cap in all is reached, a newcomer
 * from an address holding fewer pending sessions than the busiest one is still let in: the
 * busiest address's oldest pending session is closed for it. So a flood from a few
 * addresses cannot lock out another address, even before the login timeout clears it.
 */
export class SessionSlots<T> {
  readonly #limits: SlotLimits;
  readonly #all = new Map<T, string>();
  readonly #perAddress = new Map<string, number>();
  /** Insertion order is age: the first entry of an address is its oldest pending session. */
  readonly #pending = new Map<T, string>();
  readonly #pendingPerAddress = new Map<string, number>();

  constructor(limits: SlotLimits) {
    this.#limits = limits;
  }

  /** Sessions counted now. */
  get size(): number {
    return this.#all.size;
  }

  /** Sessions not logged in, counted now. */
  get pendingSize(): number {
    return this.#pending.size;
  }

  /** Decide about a new connection from `address` (nothing is counted until add()). */
  check(address: string): Admission<T> {
    const l = this.#limits;
    if (this.#all.size >= l.maxConnections) return { kind: "refuse", reason: `Too many connections (limit ${l.maxConnections}), try later` };
    if ((this.#perAddress.get(address) ?? 0) >= l.maxConnectionsPerAddress) {
      return { kind: "refuse", reason: `Too many connections from your address (limit ${l.maxConnectionsPerAddress}), try later` };
    }
    const mine = this.#pendingPerAddress.get(address) ?? 0;
    if (mine >= l.maxUnauthenticatedPerAddress) {
      return { kind: "refuse", reason: `Too many connections from your address waiting to log in (limit ${l.maxUnauthenticatedPerAddress}), try later` };
    }
    if (this.#pending.size < l.maxUnauthenticated) return { kind: "admit" };
    let busiest: string | undefined;
    let most = 0;
    for (const [a, n] of this.#pendingPerAddress) {
      if (n > most) {
        most = n;
        busiest = a;
      }
    }
    // Only when it evens things out: evicting from an address one ahead would just swap roles.
    if (busiest !== undefined && most > mine + 1) {
      for (const [session, a] of this.#pending) {
        if (a === busiest) {
          return { kind: "evict", victim: session, reason: `Too many connections waiting to log in (limit ${l.maxUnauthenticated}): closing your oldest one` };
        }
      }
    }
    return { kind: "refuse", reason: `Too many connections waiting to log in (limit ${l.maxUnauthenticated}), try later` };
  }

  /** Count a new, not yet logged-in session. */
  add(session: T, address: string): void {
    if (this.#all.has(session)) return;
    this.#all.set(session, address);
    bump(this.#perAddress, address, 1);
    this.#pending.set(session, address);
    bump(this.#pendingPerAddress, address, 1);
  }

  /** The session logged in (true) or out again (false); ignored once released. */
  setLoggedIn(session: T, loggedIn: boolean): void {
    const address = this.#all.get(session);
    if (address === undefined) return;
    if (loggedIn && this.#pending.delete(session)) bump(this.#pendingPerAddress, address, -1);
    if (!loggedIn && !this.#pending.has(session)) {
      this.#pending.set(session, address);
      bump(this.#pendingPerAddress, address, 1);
    }
  }

  /** Stop counting the session (closed or evicted); idempotent. */
  release(session: T): void {
    const address = this.#all.get(session);
    if (address === undefined) return;
    this.#all.delete(session);
    bump(this.#perAddress, address, -1);
    if (this.#pending.delete(session)) bump(this.#pendingPerAddress, address, -1);
  }
}

function bump(map: Map<string, number>, key: string, by: number): void {
  const n = (map.get(key) ?? 0) + by;
  if (n <= 0) map.delete(key);
  else map.set(key, n);
}
