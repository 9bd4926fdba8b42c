/** A job error that retrying cannot heal (the file is gone, the job left the config): the job goes `dead` at once. */
export class PermanentJobError extends Error {
  override readonly name = "PermanentJobError";
}

/** Whether a failed job deserves another attempt: everything but a PermanentJobError. */
export function isRetryableJobError(err: unknown): boolean {
  return !(err instanceof PermanentJobError);
}
