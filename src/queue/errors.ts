/** A heartbeat, complete, fail or defer found no row with this id and lease token: another worker or the recovery sweep took the job. */
export class LeaseLostError extends Error {
  override readonly name = "LeaseLostError";
  constructor(
    readonly jobId: number,
    readonly operation: string,
    /** Why, when it is not a changed token: e.g. the queue did not answer until the lease ran out. */
    options: { reason?: string; cause?: unknown } = {},
  ) {
    super(
      options.reason !== undefined
        ? `${operation} job ${jobId}: lease lost (${options.reason}); drop the result, the recovery sweep gives the job back`
        : `${operation} job ${jobId}: lease lost (it expired and was recovered, or the job was finished elsewhere); ` +
            "drop the result, the job's current holder owns it now",
      { cause: options.cause },
    );
  }
}

/** Thrown by a handler to put its job back without using an attempt, e.g. "remote at its connection cap". */
export class RetryLaterError extends Error {
  override readonly name = "RetryLaterError";
  /** How long to wait before the job may be leased again; default 0 (at once). */
  readonly delayMs: number;
  constructor(message: string, options: { delayMs?: number; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.delayMs = options.delayMs ?? 0;
    if (!Number.isFinite(this.delayMs) || this.delayMs < 0) {
      throw new RangeError(`RetryLaterError: delayMs must be a finite number >= 0, got ${String(options.delayMs)}`);
    }
  }
}

/** A payload that does not match its kind's schema; the message lists each problem by path. */
export class PayloadError extends Error {
  override readonly name = "PayloadError";
  constructor(
    readonly kind: string,
    message: string,
  ) {
    super(message);
  }
}

/** The database file was written by a newer ferry (it records a migration this build does not have). */
export class DatabaseTooNewError extends Error {
  override readonly name = "DatabaseTooNewError";
}

/** The migration files or the database's migration record are inconsistent (gap, duplicate, renamed file). */
export class MigrationError extends Error {
  override readonly name = "MigrationError";
}
