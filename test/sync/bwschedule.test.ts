import { test } from "node:test";
import assert from "node:assert/strict";
import { parseBandwidth } from "../../src/sync/bwschedule.js";

/** Local time on the week of 2026-01-05 (a Monday): day 0 = Monday. */
function at(day: number, hh: number, mm: number, ss = 0): number {
  return new Date(2026, 0, 5 + day, hh, mm, ss).getTime();
}

const K = 1024, M = 1024 * 1024;
const rows: { title: string; text: string; when: number; rate: number | undefined; next?: number | undefined }[] = [
  { title: "a plain rate holds always", text: "2M", when: at(0, 3, 0), rate: 2 * M, next: undefined },
  { title: "inside a day's slot", text: "08:00,512k 19:00,10M 23:00,off", when: at(0, 12, 0), rate: 512 * K, next: at(0, 19, 0) },
  { title: "exactly at a boundary, the new rate", text: "08:00,512k 19:00,10M 23:00,off", when: at(0, 19, 0), rate: 10 * M, next: at(0, 23, 0) },
  { title: "after the last slot: off until the next morning", text: "08:00,512k 19:00,10M 23:00,off", when: at(0, 23, 30), rate: undefined, next: at(1, 8, 0) },
  { title: "before the first slot, the previous day's last holds", text: "08:00,512k 23:00,off", when: at(2, 2, 0, 30), rate: undefined, next: at(2, 8, 0) },
  { title: "weekday entries", text: "Mon-08:00,1M Sat-00:00,off", when: at(3, 12, 0), rate: M, next: at(5, 0, 0) },
  { title: "weekday entries wrap the week", text: "Mon-08:00,1M Sat-00:00,off", when: at(0, 7, 59), rate: undefined, next: at(0, 8, 0) },
  { title: "day names in any case, full or short", text: "monday-08:00,1M SUN-10:00,2M", when: at(6, 11, 0), rate: 2 * M },
  { title: "a weekday entry overrides a daily one at the same time", text: "08:00,1M Sun-08:00,off", when: at(6, 9, 0), rate: undefined },
  { title: "… on its day only", text: "08:00,1M Sun-08:00,off", when: at(0, 9, 0), rate: M },
];
for (const row of rows) {
  test(`parseBandwidth: ${row.title}`, () => {
    const s = parseBandwidth(row.text)!;
    assert.equal(s.rateAt(row.when), row.rate);
    if ("next" in row) assert.equal(s.nextChange(row.when), row.next);
  });
}

test("parseBandwidth: off and 0 are no limit at all", () => {
  assert.equal(parseBandwidth("off"), undefined);
  assert.equal(parseBandwidth(" 0 "), undefined);
});

const bad: [string, RegExp][] = [
  ["", /empty/],
  ["fast", /bad bandwidth limit "fast"/],
  ["8:00 512k", /expected \[DAY-\]HH:MM,RATE/],
  ["25:00,1M", /bad time 25:00.*00:00 to 23:59/],
  ["Moon-08:00,1M", /bad day "Moon".*Mon, Tue/],
  ["08:00,1M 08:00,2M", /sets 08:00 twice/],
  ["Mon-08:00,1M mon-08:00,2M", /sets mon-08:00 twice/],
  ["08:00,fast", /bad bandwidth limit "fast".*\(in "08:00,fast"\)/],
  ["08:00,1M:2M", /upload:download rates are not supported/],
];
for (const [text, message] of bad) {
  test(`parseBandwidth refuses ${JSON.stringify(text)}`, () => assert.throws(() => parseBandwidth(text), message));
}
