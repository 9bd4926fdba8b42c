import { redactUrl } from "../redactUrl.js";

export { redactUrl };
// Typed errors of the Postgres driver. Every message names the database by its URL without the
// password (redactUrl), and the cause's text is scrubbed of the password too, so logging any of
// these errors, or their `cause`, never writes a secret.

/** The Postgres server cannot be reached now (refused, reset, restarting, timed out); the queue keeps its pool and works again once it is back. */
export class DatabaseUnreachableError extends Error {
  override readonly name = "DatabaseUnreachableError";
  constructor(
    /** The URL without its password. */
    readonly where: string,
    readonly operation: string,
    detail: string,
    options: { cause?: unknown } = {},
  ) {
    super(
      `${operation}: database unreachable at ${where} (${detail}); check that Postgres is running and accepts connections there ` +
        "(pg_isready -d URL) and that `database` in the config names the right host and port; the pool reconnects by itself once it is back",
      options,
    );
  }
}

/** Postgres refused the login (wrong or missing password, unknown role, pg_hba.conf rule). */
export class DatabaseAuthError extends Error {
  override readonly name = "DatabaseAuthError";
  constructor(
    readonly where: string,
    readonly user: string,
    detail: string,
    options: { cause?: unknown } = {},
  ) {
    super(
      `open queue database ${where}: Postgres refused the login of user "${user}" (${detail}); ` +
        "give the right password through the environment (a ${VAR} in `database`, or PGPASSWORD) " +
        "and check that the role exists and pg_hba.conf allows it from this host",
      options,
    );
  }
}

/** The URL is not a usable postgres:// URL, or names a database that does not exist. */
export class DatabaseConfigError extends Error {
  override readonly name = "DatabaseConfigError";
}

/** A call on a queue after close(). */
export class QueueClosedError extends Error {
  override readonly name = "QueueClosedError";
  constructor(where: string, operation: string) {
    super(`${operation}: the queue at ${where} is closed; open it again (a closed queue never reconnects)`);
  }
}


/** SQLSTATE classes and Node codes that mean "the server is not there right now". */
const UNREACHABLE_SQLSTATES = new Set([
  "57P01", // admin_shutdown: the server was stopped or restarted under us
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now: starting up or shutting down
  "08000", "08001", "08003", "08004", "08006", // connection_exception class
]);
const UNREACHABLE_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EAI_AGAIN", "ENOENT"]);
const UNREACHABLE_TEXT = /Connection terminated|connection timeout|timeout exceeded when trying to connect|not queryable|Client was closed|terminating connection/i;

/** What pg's error says, with the password (if any) replaced, never more than 500 characters. */
export function scrub(err: unknown, password: string | undefined): string {
  const e = err as { message?: unknown; code?: unknown; errors?: unknown } | null;
  let text = typeof e?.message === "string" ? e.message : "";
  // Node's happy-eyeballs connect reports every address tried in an AggregateError with no message.
  if (!text && Array.isArray(e?.errors)) text = e.errors.map((x: { message?: string }) => x.message).join("; ");
  if (!text && typeof e?.code === "string") text = e.code;
  if (!text) text = String(err);
  if (password) text = text.split(password).join("***");
  return text.length > 500 ? `${text.slice(0, 500)}…` : text;
}

/** Whether err means the server could not be reached or the connection died. */
export function isUnreachable(err: unknown, depth = 0): boolean {
  const e = err as { code?: unknown; message?: unknown; errors?: unknown } | null;
  if (!e || typeof e !== "object") return false;
  if (typeof e.code === "string" && (UNREACHABLE_CODES.has(e.code) || UNREACHABLE_SQLSTATES.has(e.code))) return true;
  if (Array.isArray(e.errors) && e.errors.some((x) => isUnreachable(x, depth + 1))) return true;
  if (typeof e.message === "string" && UNREACHABLE_TEXT.test(e.message)) return true;
  return depth < 3 && "cause" in e && isUnreachable((e as { cause?: unknown }).cause, depth + 1);
}

/** Whether err means the login was refused (28P01 invalid_password, 28000 invalid authorization, or pg's client-side "password must be a string"). */
export function isAuthFailure(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  if (!e || typeof e !== "object") return false;
  if (e.code === "28P01" || e.code === "28000") return true;
  return typeof e.message === "string" && /client password must be a string|password authentication failed|no password supplied/i.test(e.message);
}
