import { z } from "zod";
import { parseBandwidth } from "../sync/bwschedule.js";

/**
 * A `bwlimit` config field: the same text as --bwlimit (a rate such as "2M", "off", or an rclone
 * timetable "08:00,512k 19:00,10M 23:00,off"), checked when the config is loaded and kept as
 * text (the daemon builds its limiters from it).
 */
export const bandwidthField = (what: string) =>
  z.string().superRefine((text, ctx) => {
    try {
      parseBandwidth(text);
    } catch (err) {
      ctx.addIssue({ code: "custom", message: (err as Error).message });
    }
  }).optional().describe(`${what}; bytes/s such as "2M" or "512k" (1024-based), or a timetable of local times, ` +
    `"08:00,512k 19:00,10M 23:00,off" (an entry may start with a day: "Mon-08:00,512k"); default none`);
