import { AUTH_COMMANDS } from "./auth.js";
import { DATA_CONNECTION_COMMANDS } from "./dataConnection.js";
import { FILE_COMMANDS } from "./files.js";
import { HASH_COMMANDS } from "./hash.js";
import { LISTING_COMMANDS } from "./listing.js";
import { MISC_COMMANDS } from "./misc.js";
import { NAVIGATION_COMMANDS } from "./navigation.js";
import { SECURITY_COMMANDS } from "./security.js";
import { TRANSFER_COMMANDS } from "./transfer.js";
import type { CommandSpec } from "./types.js";

export type { CommandSpec, Handler } from "./types.js";

/** Every verb the server knows, keyed by verb: the single source for dispatch, HELP and FEAT. */
export const COMMANDS: ReadonlyMap<string, CommandSpec> = buildTable();

function buildTable(): Map<string, CommandSpec> {
  const table = new Map<string, CommandSpec>();
  const groups = [AUTH_COMMANDS, NAVIGATION_COMMANDS, FILE_COMMANDS, TRANSFER_COMMANDS, LISTING_COMMANDS,
    DATA_CONNECTION_COMMANDS, HASH_COMMANDS, MISC_COMMANDS, SECURITY_COMMANDS];
  for (const spec of groups.flat()) {
    if (table.has(spec.verb)) throw new Error(`command ${spec.verb} defined twice`);
    table.set(spec.verb, spec);
  }
  return table;
}
