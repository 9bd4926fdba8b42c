import type { Session } from "../Session.js";
import type { Perm } from "../Authenticator.js";

/** A command handler: does its one job and replies through the session. */
export type Handler = (session: Session, arg: string) => Promise<void>;

/**
 * Everything the generic pre-processing needs to know about a verb (STYLE.md guideline 6):
 * whether login is required, the argument rule, the permission, the HELP syntax and the
 * FEAT line it contributes.
 */
export interface CommandSpec {
  readonly verb: string;
  /** Requires a logged-in user (530 otherwise). */
  readonly auth: boolean;
  /** "required": 501 without one; "forbidden": 501 with one. */
  readonly arg: "required" | "forbidden" | "optional";
  /** Checked before the handler runs; 550 when the user lacks it. */
  readonly perm?: Perm;
  /** Syntax shown by HELP VERB. */
  readonly help: string;
  /** Line this verb adds to FEAT (RFC 2389), if any. */
  readonly feat?: string;
  /** Served even while a transfer runs (ABOR, STAT, QUIT); others, NOOP included, wait for it so replies stay in order. */
  readonly duringTransfer?: boolean;
  readonly handler: Handler;
}

/** Build a spec with the common defaults: login required, argument optional. */
export function command(verb: string, help: string, handler: Handler, more: Partial<Omit<CommandSpec, "verb" | "help" | "handler">> = {}): CommandSpec {
  return { verb, help, handler, auth: more.auth ?? true, arg: more.arg ?? "optional", ...more };
}
