import type { Logger } from "../../log/index.js";
import { backoffDelay, systemClock, type Clock, type HookDeliveries, type HookDelivery, type NotificationInput } from "../../queue/index.js";
import { deliver as realDeliver, HookDeliveryError } from "./deliver.js";
import type { HookFacts } from "./facts.js";
import type { ResolvedHook } from "./resolve.js";

/** What the dispatcher tells its listeners (tests, the event stream). */
export interface HookDispatcherEventMap {
  /** A notification was delivered. */
  delivered: { readonly delivery: HookDelivery; readonly attempts: number };
  /** A try failed; it is tried again at retryAt. */
  retry: { readonly delivery: HookDelivery; readonly attempts: number; readonly error: string; readonly retryAt: number };
  /** A notification was given up: attempts used, or its hook left the config. */
  "gave-up": { readonly delivery: HookDelivery; readonly attempts: number; readonly error: string };
}

/** Options of a HookDispatcher. */
export interface HookDispatcherOptions {
  /** The queue's hook_deliveries table (queue.hooks), where notifications wait for delivery. */
  readonly deliveries: HookDeliveries;
  readonly hooks: readonly ResolvedHook[];
  readonly logger: Logger;
  /** Deliveries at once, across hooks (each hook delivers one at a time, in order); default 4. */
  readonly concurrency?: number;
  /** Finished notifications are kept this long; default 7 days. */
  readonly retentionMs?: number;
  /** Default the system clock; Math.random for the jitter. */
  readonly clock?: Clock;
  readonly rng?: () => number;
  /** Performs one delivery; default deliver() (commands and HTTP). A test seam. */
  readonly deliver?: typeof realDeliver;
}

/** When the store itself fails (its disk is full), deliveries pause this long. */
const STORE_TROUBLE_MS = 5000;

type Listener<E extends keyof HookDispatcherEventMap> = (payload: HookDispatcherEventMap[E]) => void;

/**
 * Hooks and healthchecks pings, delivered at least once. emit() routes an event to the hooks
 * that want it and stores one notification per hook; notifications() computes the same rows for
 * a caller that stores them in its own transaction (a run's outcome). A loop then delivers each hook's notifications in order, one at a time per hook, with
 * its timeout, retrying with backoff until its attempts are used. A failing or hanging hook is
 * logged and shown by `ferry status`; it never touches the job that raised the event. After a
 * crash, what was stored and not delivered goes out when the daemon starts again.
 */
export class HookDispatcher {
  // parameters
  readonly #store: HookDeliveries;
  readonly #log: Logger;
  readonly #concurrency: number;
  readonly #retentionMs: number;
  readonly #clock: Clock;
  readonly #rng: () => number;
  readonly #deliver: typeof realDeliver;
  // internal state
  #hooks = new Map<string, ResolvedHook>();
  readonly #busy = new Set<string>();
  readonly #inFlight = new Set<Promise<void>>();
  readonly #listeners = new Map<keyof HookDispatcherEventMap, Set<Listener<never>>>();
  #cancelTimer: (() => void) | undefined;
  #cancelPrune: (() => void) | undefined;
  #state: "new" | "running" | "stopped" = "new";
  /** A tick is reading the queue; a tick asked for meanwhile runs when it is done. */
  #ticking = false;
  #tickAgain = false;
  /** emit()s storing now, and the last of them: the next waits for it. */
  #adding = 0;
  #addTail: Promise<void> = Promise.resolve();
  /** Aborted when stop's grace runs out: deliveries still running are cut short. */
  readonly #abort = new AbortController();

  constructor(options: HookDispatcherOptions) {
    this.#store = options.deliveries;
    this.#log = options.logger.child({ component: "hooks" });
    this.#concurrency = options.concurrency ?? 4;
    this.#retentionMs = options.retentionMs ?? 7 * 86_400_000;
    this.#clock = options.clock ?? systemClock;
    this.#rng = options.rng ?? Math.random;
    this.#deliver = options.deliver ?? realDeliver;
    this.configure(options.hooks);
  }

  /** The notifications table, for `ferry status` and tests. */
  get store(): HookDeliveries {
    return this.#store;
  }

  /** Replaces the hooks (SIGHUP): waiting notifications are delivered with their hook's new settings. */
  configure(hooks: readonly ResolvedHook[]): void {
    this.#hooks = new Map(hooks.map((h) => [h.id, h]));
    if (this.#state === "running") this.#tick();
  }

  /** Subscribes to a dispatcher event; returns the unsubscribe function. */
  on<E extends keyof HookDispatcherEventMap>(event: E, listener: Listener<E>): () => void {
    let set = this.#listeners.get(event);
    if (!set) this.#listeners.set(event, (set = new Set()));
    set.add(listener as Listener<never>);
    return () => set.delete(listener as Listener<never>);
  }

  /** The hooks that want this event: a top-level hook hears every job; a job's hook its job and its remote. */
  hooksFor(facts: HookFacts): ResolvedHook[] {
    return [...this.#hooks.values()].filter((h) => h.events.has(facts.event) &&
      (h.job === undefined || h.job === facts.job || (facts.event.startsWith("remote.") && facts.job === undefined && h.remote === facts.remote)));
  }

  /** One notification per interested hook and event: the rows a caller stores in its own transaction (queue.complete's notify). */
  notifications(events: readonly HookFacts[]): NotificationInput[] {
    return events.flatMap((facts) => this.hooksFor(facts).map((h) => ({ hook: h.id, facts })));
  }

  /**
   * Stores the notifications of these events, then wakes the delivery loop. Resolves once they
   * are stored; a store failure is logged, never thrown at the caller (callers need not await).
   */
  async emit(...events: HookFacts[]): Promise<void> {
    const items = this.notifications(events);
    if (items.length === 0) return;
    const now = this.#clock.now();
    // Stored in the order emitted (a hook delivers in id order): an add starts at once when none
    // is pending (SQLite then writes before this returns), else after the one before it.
    const add = (): Promise<void> => this.#store.add(items, now);
    const stored = this.#adding++ === 0 ? add() : this.#addTail.then(add);
    this.#addTail = stored.catch(() => undefined);
    try {
      await stored;
    } catch (err) {
      this.#log.error({ err, events: events.map((e) => e.event) }, "could not store a hook notification; it is lost (the work itself is not affected)");
      return;
    } finally {
      this.#adding--;
    }
    this.wake();
  }

  /** Delivers what is due now; call once notifications stored by someone else committed. */
  wake(): void {
    if (this.#state === "running") this.#tick();
  }

  /** Starts delivering (what a previous process left pending goes first) and pruning old history. */
  start(): void {
    if (this.#state !== "new") return;
    this.#state = "running";
    const prune = (): void => {
      this.#cancelPrune = this.#clock.setTimer(prune, 3_600_000);
      this.#store.pruneBefore(this.#clock.now() - this.#retentionMs).then(
        (n) => n > 0 && this.#log.info({ pruned: n }, "pruned old hook notifications"),
        (err: unknown) => this.#log.warn({ err }, "could not prune hook notifications"),
      );
    };
    prune();
    this.#tick();
  }

  /**
   * Stops delivering; deliveries in progress get up to graceMs to finish, then are cut short (a
   * command's process group is killed). One cut short stays pending and is delivered again by
   * the next start (at least once: the receiver may see it twice).
   */
  async stop(graceMs = 2000): Promise<void> {
    if (this.#state === "stopped") return;
    this.#state = "stopped";
    this.#cancelTimer?.();
    this.#cancelPrune?.();
    if (this.#inFlight.size === 0) return;
    let cancel: () => void = () => {};
    const all = Promise.allSettled([...this.#inFlight]);
    const first = await Promise.race([all.then(() => "done" as const), new Promise<"grace">((resolve) => (cancel = this.#clock.setTimer(() => resolve("grace"), graceMs)))]);
    cancel();
    if (first === "grace") {
      this.#abort.abort(new Error("the daemon is stopping"));
      await all;
    }
  }

  /** Starts what is due and sets the timer for the next; one at a time (a tick meanwhile runs after). */
  #tick(): void {
    if (this.#ticking) {
      this.#tickAgain = true;
      return;
    }
    this.#ticking = true;
    void this.#tickOnce().finally(() => {
      this.#ticking = false;
      if (this.#tickAgain) {
        this.#tickAgain = false;
        this.#tick();
      }
    });
  }

  async #tickOnce(): Promise<void> {
    this.#cancelTimer?.();
    this.#cancelTimer = undefined;
    if (this.#state !== "running") return;
    let next: number | undefined;
    try {
      const free = this.#concurrency - this.#inFlight.size;
      if (free > 0) for (const d of await this.#store.due(this.#clock.now(), free, this.#busy)) if (this.#state === "running") this.#start(d);
      next = await this.#store.nextDue(this.#busy);
    } catch (err) {
      this.#log.error({ err }, "hook notifications: the queue database failed; trying again shortly");
      next = this.#clock.now() + STORE_TROUBLE_MS;
    }
    if (this.#state !== "running" || next === undefined || this.#inFlight.size >= this.#concurrency) return; // a finishing delivery ticks again
    this.#cancelTimer = this.#clock.setTimer(() => this.#tick(), Math.max(0, next - this.#clock.now()));
  }

  #start(d: HookDelivery): void {
    this.#busy.add(d.hook);
    const p = this.#attempt(d).catch((err: unknown) => this.#log.error({ err, hook: d.hook, delivery: d.id }, "hook notification: could not record the outcome"))
      .finally(() => {
        this.#busy.delete(d.hook);
        this.#inFlight.delete(p);
        this.#tick();
      });
    this.#inFlight.add(p);
  }

  async #attempt(d: HookDelivery): Promise<void> {
    const log = this.#log.child({ hook: d.hook, delivery: d.id, hookEvent: d.event, ...(d.jobName ? { job: d.jobName } : {}) });
    const hook = this.#hooks.get(d.hook);
    const attempts = d.attempts + 1;
    if (!hook) {
      const error = "its hook is no longer in the config";
      await this.#store.giveUp(d.id, d.attempts, error, this.#clock.now());
      log.warn({ event: "hook.dropped" }, `hook notification dropped: ${error}`);
      this.#emit("gave-up", { delivery: d, attempts: d.attempts, error });
      return;
    }
    try {
      await this.#deliver(hook.action, d.facts, { id: d.id, hook: d.hook }, hook.timeoutMs, this.#abort.signal);
    } catch (err) {
      // Cut short by the stop: it stays pending, due at once, for the next start (on Postgres
      // taking it moved its next attempt an hour ahead as this node's claim).
      if (this.#abort.signal.aborted) {
        await this.#store.release(d.id, this.#clock.now());
        return;
      }
      const error = err instanceof HookDeliveryError ? err.message : `${(err as Error).name}: ${(err as Error).message}`;
      const now = this.#clock.now();
      if (attempts >= hook.attempts) {
        await this.#store.giveUp(d.id, attempts, error, now);
        log.error({ event: "hook.gave-up", attempts, err: error }, `hook ${d.hook} gave up on a ${d.event} notification after ${attempts} tries: ${error} (the transfer is not affected)`);
        this.#emit("gave-up", { delivery: d, attempts, error });
        return;
      }
      const retryAt = now + backoffDelay(attempts - 1, hook.backoff, this.#rng);
      await this.#store.retry(d.id, attempts, error, retryAt, now);
      log.warn({ event: "hook.retry", attempts, retryInMs: retryAt - now, err: error }, `hook ${d.hook} failed: ${error}; trying again`);
      this.#emit("retry", { delivery: d, attempts, error, retryAt });
      return;
    }
    await this.#store.delivered(d.id, attempts, this.#clock.now());
    log.info({ event: "hook.delivered", attempts }, "hook notification delivered");
    this.#emit("delivered", { delivery: d, attempts });
  }

  #emit<E extends keyof HookDispatcherEventMap>(event: E, payload: HookDispatcherEventMap[E]): void {
    for (const listener of this.#listeners.get(event) ?? []) {
      try {
        (listener as Listener<E>)(payload);
      } catch (err) {
        this.#log.error({ err, event }, "hook listener threw");
      }
    }
  }
}
