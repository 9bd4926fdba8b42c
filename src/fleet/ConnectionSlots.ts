/** A slot held for one connection to a remote; release it when that connection is closed. */
export type ReleaseSlot = () => void;

/** How many slots of a remote this node holds, for `ferry status`. */
export interface SlotUsage {
  readonly remote: string;
  /** Slots held now (one per open or opening connection). */
  readonly held: number;
  /** Acquirers of this node waiting for a slot. */
  readonly waiting: number;
  /**
   * Connections still open whose slot was lost with the database session and not yet taken
   * back (Postgres only; 0 otherwise): for that long the fleet may exceed the cap by this many.
   */
  readonly unbacked: number;
}

/**
 * A cap on connections per remote, held across every node that shares it (issue 16 part 3):
 * servers limit connections per user or address, so three nodes with `connections: 8` must
 * not open 24 against a server that takes 8.
 */
export interface ConnectionSlots {
  /**
   * Resolves once this node may open one more connection to `remote` without the fleet
   * exceeding `cap`; the returned function gives the slot back (idempotent). Rejects with the
   * signal's reason when it aborts while waiting, and with SlotsClosedError after close().
   */
  acquire(remote: string, cap: number, signal?: AbortSignal): Promise<ReleaseSlot>;
  /** Slots held and waited for per remote by this node. */
  held(): SlotUsage[];
  /**
   * Calls `listener` when an acquirer (on any node) waits for a slot of `remote`, so a pool
   * can close its idle connections to it instead of keeping their slots for its idle time.
   * Returns the unsubscribe.
   */
  onWanted(remote: string, listener: () => void): () => void;
  /** Stops admitting; pending acquires reject. Held slots are released. */
  close(): Promise<void>;
}

/** acquire() after close(), or pending when close() was called. */
export class SlotsClosedError extends Error {
  override readonly name = "SlotsClosedError";
  constructor(message = "connection slots closed: the daemon is stopping") {
    super(message);
  }
}

/** Checks a cap and names the fix. */
export function assertCap(remote: string, cap: number): void {
  if (!Number.isInteger(cap) || cap < 1) throw new RangeError(`connection slots for remote "${remote}": the cap must be a whole number >= 1, not ${cap} (remotes.${remote}.connections)`);
}

/** The signal's reason as an Error. */
export function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error("aborted while waiting for a connection slot");
}

/** Listeners of onWanted, per remote; a throwing listener cannot break the others. */
export class Wanted {
  readonly #listeners = new Map<string, Set<() => void>>();

  on(remote: string, listener: () => void): () => void {
    let set = this.#listeners.get(remote);
    if (!set) this.#listeners.set(remote, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.#listeners.get(remote) === set) this.#listeners.delete(remote);
    };
  }

  /** The remotes listened to. */
  remotes(): string[] {
    return [...this.#listeners.keys()];
  }

  emit(remote: string): void {
    for (const fn of [...(this.#listeners.get(remote) ?? [])]) {
      try {
        fn();
      } catch {
        // A listener only frees idle connections early; its failure costs nothing but time.
      }
    }
  }
}
