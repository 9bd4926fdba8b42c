import { parseRate } from "./bwlimit.js";

/**
 * A bandwidth limit that may change with the time of day, in rclone's timetable syntax:
 * "2M" (always), or space-separated "HH:MM,RATE" entries such as "08:00,512k 19:00,10M 23:00,off",
 * where an entry may name a weekday ("Mon-08:00,512k"). An entry without a day holds every day.
 * Each entry's rate holds from its time until the next entry's; before the first entry of the
 * week, the last one still holds (the timetable wraps around, as rclone's does). Times are
 * local time of the machine.
 */
export interface BandwidthSchedule {
  /** The text it was parsed from, for logs and errors. */
  readonly text: string;
  /** Bytes per second at wall-clock time `ms` (ms since the epoch), or undefined for no limit. */
  rateAt(ms: number): number | undefined;
  /** The first wall-clock time after `ms` at which the rate may change; undefined when it never does. */
  nextChange(ms: number): number | undefined;
}

const MINUTES_PER_DAY = 24 * 60;
const MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY;
/** Day names as Date.getDay() numbers them (Sunday 0). */
const DAYS: Record<string, number> = {
  sun: 0, sunday: 0, mon: 1, monday: 1, tue: 2, tuesday: 2, wed: 3, wednesday: 3, thu: 4, thursday: 4, fri: 5, friday: 5, sat: 6, saturday: 6,
};

interface Slot {
  /** Minutes since Sunday 00:00, local time. */
  readonly minute: number;
  readonly rate: number | undefined;
}

const HINT = 'use a rate such as "2M", or a timetable such as "08:00,512k 19:00,10M 23:00,off" (an entry may start with a day: "Mon-08:00,512k")';

/**
 * Parse --bwlimit or a config `bwlimit`. Returns undefined for a limit that is always off
 * ("off", "0"); throws an Error naming the bad part and the accepted forms otherwise.
 */
export function parseBandwidth(text: string): BandwidthSchedule | undefined {
  const entries = text.trim().split(/\s+/).filter((e) => e !== "");
  if (entries.length === 0) throw new Error(`bad bandwidth limit ${JSON.stringify(text)}: it is empty; ${HINT}`);
  if (entries.length === 1 && !entries[0]!.includes(",")) {
    const rate = rateOf(entries[0]!, text);
    return rate === undefined ? undefined : constant(text, rate);
  }
  // A weekday entry overrides a daily entry at the same time; the same time twice otherwise is a mistake.
  const slots = new Map<number, Slot & { daily: boolean }>();
  for (const entry of entries) {
    const m = /^(?:([A-Za-z]+)-)?(\d{1,2}):(\d{2}),(.+)$/.exec(entry);
    if (!m) throw new Error(`bad bandwidth timetable entry ${JSON.stringify(entry)} in ${JSON.stringify(text)}: expected [DAY-]HH:MM,RATE; ${HINT}`);
    const [, day, hh, mm, rateText] = m as unknown as [string, string | undefined, string, string, string];
    const hour = Number(hh), minute = Number(mm);
    if (hour > 23 || minute > 59) throw new Error(`bad time ${hh}:${mm} in bandwidth timetable entry ${JSON.stringify(entry)}: use 00:00 to 23:59`);
    let days: number[] = [0, 1, 2, 3, 4, 5, 6];
    if (day !== undefined) {
      const d = DAYS[day.toLowerCase()];
      if (d === undefined) throw new Error(`bad day ${JSON.stringify(day)} in bandwidth timetable entry ${JSON.stringify(entry)}: use Mon, Tue, Wed, Thu, Fri, Sat or Sun`);
      days = [d];
    }
    const rate = rateOf(rateText, entry);
    for (const d of days) {
      const at = d * MINUTES_PER_DAY + hour * 60 + minute;
      const before = slots.get(at);
      if (before && before.daily === (day === undefined)) {
        throw new Error(`bandwidth timetable ${JSON.stringify(text)} sets ${entry.split(",")[0]} twice: keep one entry per time`);
      }
      if (!before || before.daily) slots.set(at, { minute: at, rate, daily: day === undefined });
    }
  }
  return timetable(text, [...slots.values()].sort((a, b) => a.minute - b.minute));
}

function rateOf(rateText: string, context: string): number | undefined {
  if (rateText.includes(":")) {
    throw new Error(`bad bandwidth limit ${JSON.stringify(context)}: separate upload:download rates are not supported; give one rate for both directions`);
  }
  try {
    return parseRate(rateText);
  } catch (err) {
    throw new Error(`${(err as Error).message}${context !== rateText ? ` (in ${JSON.stringify(context)})` : ""}`, { cause: err });
  }
}

function constant(text: string, rate: number): BandwidthSchedule {
  return { text, rateAt: () => rate, nextChange: () => undefined };
}

/** Minutes since Sunday 00:00 of local time `ms`, with the milliseconds into that minute. */
function weekMinute(ms: number): { minute: number; intoMinuteMs: number } {
  const d = new Date(ms);
  return { minute: d.getDay() * MINUTES_PER_DAY + d.getHours() * 60 + d.getMinutes(), intoMinuteMs: d.getSeconds() * 1000 + d.getMilliseconds() };
}

function timetable(text: string, slots: readonly Slot[]): BandwidthSchedule {
  const current = (minute: number): Slot => {
    let slot = slots[slots.length - 1]!; // before the week's first entry, the last one still holds
    for (const s of slots) if (s.minute <= minute) slot = s;
    return slot;
  };
  return {
    text,
    rateAt: (ms) => current(weekMinute(ms).minute).rate,
    nextChange: (ms) => {
      if (slots.length === 1) return undefined;
      const { minute, intoMinuteMs } = weekMinute(ms);
      const next = slots.find((s) => s.minute > minute) ?? slots[0]!;
      const ahead = (next.minute - minute + MINUTES_PER_WEEK) % MINUTES_PER_WEEK || MINUTES_PER_WEEK;
      // Minute arithmetic in local time: across a DST shift this is an hour off, which the
      // limiter tolerates because it asks rateAt again whenever it wakes.
      return ms + ahead * 60_000 - intoMinuteMs;
    },
  };
}
