import type { Command } from "commander";
import { parseBandwidth, TokenBucket } from "../sync/index.js";
import { UsageError } from "./exitCodes.js";

/** The help of --bwlimit, the same on get, put and mirror. */
const HELP = 'bandwidth limit in bytes/s, e.g. 2M or 512k (K, M, G are 1024-based); shared by all transfers of the run; ' +
  'or a timetable of local times, rclone\'s syntax: "08:00,512k 19:00,10M 23:00,off" (an entry may start with a day: "Mon-08:00,512k")';

/** Add --bwlimit to a command. */
export function addBwlimitOption(command: Command): Command {
  return command.option("--bwlimit <rate|timetable>", HELP);
}

/** The limit --bwlimit asks for, or undefined for none ("off", "0" or no flag); a bad value is a usage error (exit 2). */
export function bucketFromFlag(text: string | undefined): TokenBucket | undefined {
  if (text === undefined) return undefined;
  let schedule;
  try {
    schedule = parseBandwidth(text);
  } catch (err) {
    throw new UsageError(`--bwlimit: ${(err as Error).message}`, { cause: err });
  }
  return schedule ? new TokenBucket(schedule) : undefined;
}
