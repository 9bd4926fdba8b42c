/** D10 in America/New_York (see dstCompare.ts): 8 March and 1 November 2026. */
process.env.TZ = "America/New_York";

import { test } from "node:test";
import assert from "node:assert/strict";
import { dstMismatches } from "./dstCompare.js";

test("D10 DST (America/New_York): ferry's next and previous run times are the times node-cron fires, across both transitions", () => {
  assert.equal(new Date("2026-07-01T12:00:00Z").getHours(), 8, "the zone took effect");
  assert.deepEqual(dstMismatches(["2026-03-08T04:00:00Z", "2026-11-01T03:00:00Z"]), []);
});
