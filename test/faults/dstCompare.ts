/**
 * D10 helper: compares ferry's cron times (src/daemon/cronTimes.ts: `ferry status` and the
 * catch-up at start) with the times node-cron itself fires, across DST nights, in the zone
 * of this process. node-cron fixes its zone on first use, so each zone needs its own process:
 * D10-D11.clock.test.ts (Europe/Berlin) and D10.dstNewYork.test.ts (America/New_York).
 */
import cron from "node-cron";
import { nextFire, previousFire } from "../../src/daemon/cronTimes.js";

/** Schedules that meet the transitions: the skipped and the repeated hour, intervals, several hours, a weekday. */
export const DST_EXPRESSIONS = ["30 2 * * *", "*/15 * * * *", "30 2,14 * * *", "0 3 * * *", "0 * * * *", "45 1 * * 0", "*/20 2 * * *"];

/** node-cron's own next match (its TimeMatcher, an internal field, read here to compare with). */
function nodeCronNext(expr: string): (after: Date) => Date {
  const task = cron.createTask(expr, () => undefined) as unknown as { timeMatcher: { getNextMatch(d: Date): Date } };
  return (after) => task.timeMatcher.getNextMatch(after);
}

/** Whether the local wall time of `t` happens twice (the fall-back hour). */
export function repeated(t: Date): boolean {
  const same = (o: number) => {
    const u = new Date(t.getTime() + o);
    return u.getDate() === t.getDate() && u.getHours() === t.getHours() && u.getMinutes() === t.getMinutes();
  };
  return same(3_600_000) || same(-3_600_000);
}

/**
 * Every difference, from each start over the next 30 hours, between the fire sequence as
 * node-cron's runner walks it (each next match from the last slot) and ferry's nextFire; and
 * every fire time that ferry's previousFire (the catch-up's view) does not name as the last run.
 */
export function dstMismatches(starts: readonly string[], exprs: readonly string[] = DST_EXPRESSIONS): string[] {
  const out: string[] = [];
  for (const start of starts) {
    for (const expr of exprs) {
      const theirs = nodeCronNext(expr);
      let after = new Date(start);
      while (after.getTime() < Date.parse(start) + 30 * 3_600_000) {
        const expected = theirs(after);
        const ours = nextFire(expr, after);
        // Which pass of the repeated fall-back hour node-cron fires in depends on the zone (the
        // second in Berlin, the first in New York); ferry takes the second: tolerated there only.
        const tolerated = (t?: Date) => t !== undefined && (repeated(expected) || repeated(t));
        if (ours?.getTime() !== expected.getTime() && !tolerated(ours)) out.push(`${expr} after ${after.toISOString()}: node-cron ${expected.toISOString()}, ferry ${ours?.toISOString()}`);
        const prev = previousFire(expr, expected, after);
        if (prev?.getTime() !== expected.getTime() && !(repeated(expected) && (prev === undefined || tolerated(prev)))) {
          out.push(`${expr} last run at ${expected.toISOString()}: ferry says ${prev?.toISOString()}`);
        }
        after = expected;
      }
    }
  }
  return out;
}
