import pg from "pg";

/** The fleet tables or functions are missing or unusable: the message names the fix. */
export class FleetSetupError extends Error {
  override readonly name = "FleetSetupError";
}

/** A second live daemon under a node id that another live daemon already uses. */
export class NodeIdInUseError extends Error {
  override readonly name = "NodeIdInUseError";
  constructor(
    readonly nodeId: string,
    readonly otherHost: string,
    readonly otherPid: number,
    readonly lastHeartbeatAt: number,
    message: string,
  ) {
    super(message);
  }
}

/** This daemon's registration was taken over by another start under the same node id. */
export class NodeTakenOverError extends Error {
  override readonly name = "NodeTakenOverError";
}

/**
 * Whether a pg error means the session is gone (Postgres stopped or terminated it, the
 * network failed) rather than that the statement was wrong: SQLSTATE class 08 (connection
 * exception) and 57P (operator intervention: shutdown, pg_terminate_backend), socket errors,
 * and node-postgres's own "connection terminated" / "not queryable" errors.
 */
export function isConnectionLoss(err: unknown): boolean {
  if (err instanceof pg.DatabaseError) return /^(08|57P)/.test(err.code ?? "");
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === "string" && /^E[A-Z]+$/.test(code)) return true;
  return /Connection terminated|not queryable|Client was closed|connection error/i.test(err.message);
}
