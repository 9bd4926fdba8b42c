import cron from "node-cron";

/** A parsed schedule: the numeric second/minute/hour lists, and node-cron's own matcher for days. */
interface Schedule {
  readonly seconds: readonly number[];
  readonly minutes: readonly number[];
  readonly hours: readonly number[];
  /** Whether node-cron would fire at this instant (used at day level: month, day of month, day of week, "L"). */
  readonly match: (date: Date) => boolean;
}

const cache = new Map<string, Schedule>();

function schedule(expr: string): Schedule {
  let s = cache.get(expr);
  if (!s) {
    const fields = cron.parse(expr);
    // createTask does not start timers; only its matcher is used, so day rules stay node-cron's.
    const task = cron.createTask(expr, () => undefined);
    const nums = (xs: readonly unknown[]) => xs.filter((x): x is number => typeof x === "number").sort((a, b) => a - b);
    s = { seconds: nums(fields.second), minutes: nums(fields.minute), hours: nums(fields.hour), match: (d) => task.match(d) };
    cache.set(expr, s);
  }
  return s;
}

const DAY_MS = 86_400_000;

/**
 * The instant local time h:m:s of `day` fires, as node-cron does across DST: none when the
 * time does not exist (the spring-forward gap: node-cron skips it), the later one when it
 * happens twice (the fall-back hour: node-cron fires once, in the second pass).
 */
function localInstant(day: Date, h: number, m: number, sec: number): Date | undefined {
  const d = new Date(day.getFullYear(), day.getMonth(), day.getDate(), h, m, sec);
  if (d.getHours() !== h || d.getMinutes() !== m) return undefined;
  const later = new Date(d.getTime() + 3_600_000);
  return later.getHours() === h && later.getMinutes() === m && later.getDate() === d.getDate() ? later : d;
}

/** Whether the schedule fires on the local calendar day of `day` at all (probed at its first existing time). */
function dayMatches(s: Schedule, day: Date): boolean {
  for (const t of timesOfDay(s, day, false)) return s.match(t);
  return false;
}

/** The fire times of one local day, in order. */
function* timesOfDay(s: Schedule, day: Date, reverse: boolean): Generator<Date> {
  const order = <T>(xs: readonly T[]) => (reverse ? [...xs].reverse() : xs);
  for (const h of order(s.hours)) for (const m of order(s.minutes)) for (const sec of order(s.seconds)) {
    const t = localInstant(day, h, m, sec);
    if (t) yield t;
  }
}

/** The first time the cron expression fires strictly after `after`, within `horizonDays` (default 400), in local time. */
export function nextFire(expr: string, after: Date, horizonDays = 400): Date | undefined {
  const s = schedule(expr);
  const start = new Date(after.getFullYear(), after.getMonth(), after.getDate());
  for (let i = 0; i <= horizonDays; i++) {
    const day = new Date(start.getFullYear(), start.getMonth(), start.getDate() + i);
    if (!dayMatches(s, day)) continue;
    for (const t of timesOfDay(s, day, false)) if (t.getTime() > after.getTime()) return t;
  }
  return undefined;
}

/** The last time the cron expression fired at or before `before` and strictly after `since`, or undefined. */
export function previousFire(expr: string, before: Date, since: Date): Date | undefined {
  const s = schedule(expr);
  const days = Math.min(400, Math.ceil((before.getTime() - since.getTime()) / DAY_MS) + 1);
  for (let i = 0; i <= days; i++) {
    const day = new Date(before.getFullYear(), before.getMonth(), before.getDate() - i);
    if (!dayMatches(s, day)) continue;
    for (const t of timesOfDay(s, day, true)) {
      if (t.getTime() > before.getTime()) continue;
      return t.getTime() > since.getTime() ? t : undefined;
    }
  }
  return undefined;
}
