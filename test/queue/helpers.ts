import { openDatabase, JobStore, type Clock, type Database, type JobStoreOptions } from "../../src/queue/index.js";

/** A clock the test moves by hand: timers fire, in due order, only inside advance(). */
export class ManualClock implements Clock {
  // internal state
  #now: number;
  #seq = 0;
  readonly #timers = new Map<number, { at: number; fn: () => void }>();

  constructor(start = 1_700_000_000_000) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimer(fn: () => void, ms: number): () => void {
    const id = ++this.#seq;
    this.#timers.set(id, { at: this.#now + ms, fn });
    return () => this.#timers.delete(id);
  }

  /** Moves time forward by ms, firing each timer that falls due (timers set meanwhile included). */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const entry of this.#timers) if (entry[1].at <= end && (!next || entry[1].at < next[1].at)) next = entry;
      if (!next) break;
      this.#timers.delete(next[0]);
      this.#now = Math.max(this.#now, next[1].at);
      next[1].fn();
    }
    this.#now = end;
  }

  /** Number of pending timers. */
  get pending(): number {
    return this.#timers.size;
  }
}

/** A fresh :memory: database with migrations applied, and a store over it with a manual clock. */
export function memoryStore(options: JobStoreOptions = {}): { db: Database; store: JobStore; clock: ManualClock } {
  const clock = new ManualClock();
  const db = openDatabase(":memory:");
  const store = new JobStore(db, { clock, rng: () => 0.5, ...options });
  return { db, store, clock };
}

/** A payload for an upload job. */
export function upload(path: string, job = "outbox"): { job: string; path: string; size: number; mtimeMs: number } {
  return { job, path, size: 10, mtimeMs: 1_700_000_000_000 };
}

/** Resolves after the current microtasks and one macrotask turn, so awaited handlers progress. */
export function tick(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Polls cond (bounded) until it holds; throws with what after ~5 s. cond may be async (a Queue read). */
export async function until(cond: () => boolean | Promise<boolean>, what: string, tries = 500): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for: ${what}`);
}
