import cron, { type ScheduledTask } from "node-cron";
import type { TickClaims } from "../fleet/index.js";
import type { Logger } from "../log/index.js";
import type { Queue } from "../queue/index.js";
import type { MirrorJob } from "./config.js";
import { nextFire, previousFire } from "./cronTimes.js";

/** Options of a Scheduler. */
export interface SchedulerOptions {
  readonly store: Queue;
  readonly jobs: readonly MirrorJob[];
  /** Called after a mirror job was enqueued, to wake the workers. */
  readonly onEnqueued: () => void;
  readonly logger: Logger;
  /**
   * Who enqueues each tick: on a shared queue one node per tick of the fleet (PgTicks), on a
   * single box every tick is this daemon's. Default: every tick is ours.
   */
  readonly ticks?: TickClaims;
  /** This node's id, recorded with its tick claims. */
  readonly node?: string;
  /** Default Date.now. */
  readonly now?: () => number;
}

/** The dedupe key of a mirror: one waiting or running run per mirror. */
export function mirrorDedupeKey(name: string): string {
  return `mirror:${name}`;
}

/**
 * node-cron schedules that enqueue mirror runs. A tick while the same mirror is queued or
 * running coalesces into that run (dedupe key, coalesceWithLeased), so a slow mirror never
 * piles up runs; at start, a mirror whose scheduled time passed while the daemon was down
 * (or that never ran) runs once, unless its job says catchUp: false. Daemons sharing a queue
 * each run the same schedules: the node that claims a tick (TickClaims) enqueues it.
 */
export class Scheduler {
  // parameters
  readonly #options: SchedulerOptions;
  readonly #now: () => number;
  // internal state
  readonly #tasks: ScheduledTask[] = [];

  constructor(options: SchedulerOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** Runs the catch-up check, then starts one cron task per mirror. A queue that fails the check is logged; the schedule starts anyway. */
  async start(): Promise<void> {
    for (const job of this.#options.jobs) {
      let missed: { reason: string; tickMs: number } | undefined;
      try {
        missed = await this.missedTick(job);
      } catch (err) {
        this.#options.logger.error({ err, job: job.name }, "catch-up check failed: the queue did not answer; the mirror runs at its next scheduled time");
      }
      if (missed) await this.enqueueTick(job, missed.tickMs, missed.reason);
      // node-cron's context date is the scheduled slot (whole seconds), the same on every node.
      const task = cron.schedule(job.schedule, (ctx) => void this.enqueueTick(job, Math.floor((ctx?.date?.getTime() ?? this.#now()) / 1000) * 1000, "schedule"), {
        name: `ferry:${job.name}`,
        logger: cronLogger(this.#options.logger),
      });
      this.#tasks.push(task);
    }
  }

  /** Why the mirror should run now at start ("never ran" / "missed while down"), or undefined. */
  async missedRun(job: MirrorJob): Promise<string | undefined> {
    return (await this.missedTick(job))?.reason;
  }

  /**
   * missedRun with the tick the catch-up stands for: the missed scheduled instant, or for a
   * mirror that never ran its latest one (0 when it never fired), so that nodes starting
   * together claim the same tick.
   */
  async missedTick(job: MirrorJob): Promise<{ reason: string; tickMs: number } | undefined> {
    if (!job.catchUp) return undefined;
    const now = new Date(this.#now());
    const last = (await this.#options.store.listJobs({ name: job.name, limit: 1 }))[0];
    if (!last) return { reason: "catch-up: never ran", tickMs: previousFire(job.schedule, now, new Date(0))?.getTime() ?? 0 };
    const due = previousFire(job.schedule, now, new Date(last.createdAt));
    return due ? { reason: `catch-up: the run due at ${due.toISOString()} was missed`, tickMs: due.getTime() } : undefined;
  }

  /**
   * Enqueues the run of the tick at `tickMs` if this node claims it (another node of the fleet
   * may have); returns whether a new run was queued. A claim the database refuses skips the
   * tick, logged: two nodes must never both run it, and the next tick comes.
   */
  async enqueueTick(job: MirrorJob, tickMs: number, reason: string): Promise<boolean> {
    const ticks = this.#options.ticks;
    if (ticks) {
      let mine: boolean;
      try {
        mine = await ticks.claim(job.name, tickMs, this.#options.node ?? "");
      } catch (err) {
        this.#options.logger.error({ err, job: job.name, tick: new Date(tickMs).toISOString(), reason }, "could not claim the scheduled tick; the mirror runs at its next one");
        return false;
      }
      if (!mine) {
        this.#options.logger.debug({ job: job.name, tick: new Date(tickMs).toISOString(), reason }, "tick claimed by another node");
        return false;
      }
    }
    return this.enqueue(job, reason);
  }

  /** Enqueues one run of the mirror (coalescing with a waiting or running one); returns whether it is new. */
  async enqueue(job: MirrorJob, reason: string): Promise<boolean> {
    const log = this.#options.logger.child({ job: job.name, kind: "mirror" });
    try {
      const { job: row, created } = await this.#options.store.enqueue(
        { kind: "mirror", payload: { job: job.name }, dedupeKey: mirrorDedupeKey(job.name), concurrencyKey: job.remote },
        { coalesceWithLeased: true },
      );
      if (created) {
        log.info({ jobId: row.id, reason }, "mirror run queued");
        this.#options.onEnqueued();
      } else log.info({ jobId: row.id, state: row.state, reason }, "mirror run already queued or running; tick coalesced");
      return created;
    } catch (err) {
      log.error({ err, reason }, "could not queue the mirror run");
      return false;
    }
  }

  /** Stops every cron task. */
  stop(): void {
    for (const t of this.#tasks.splice(0)) void t.destroy();
  }
}

/** When the mirror's schedule fires next after `now` (for `ferry status`). */
export function nextScheduledRun(job: Pick<MirrorJob, "schedule">, now: number): number | null {
  return nextFire(job.schedule, new Date(now))?.getTime() ?? null;
}

/** node-cron's messages through pino (it would print to the console otherwise). */
function cronLogger(log: Logger) {
  return {
    info: (m: string) => log.debug({ cron: true }, m),
    warn: (m: string) => log.warn({ cron: true }, m),
    error: (m: string | Error, err?: Error) => log.error({ cron: true, err: err ?? m }, String(m)),
    debug: (m: string | Error) => log.debug({ cron: true }, String(m)),
  };
}
