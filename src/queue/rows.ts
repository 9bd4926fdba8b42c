import type { Job, JobKind, JobState, Transfer } from "./types.js";

/** A jobs row as SQLite returns it. */
export interface JobRow {
  id: number;
  kind: string;
  name: string;
  dedupe_key: string | null;
  concurrency_key: string | null;
  node: string | null;
  payload: string;
  state: string;
  attempts: number;
  max_attempts: number;
  run_after: number;
  lease_owner: string | null;
  lease_token: string | null;
  lease_expires_at: number | null;
  last_error: string | null;
  last_error_at: number | null;
  created_at: number;
  updated_at: number;
  finished_at: number | null;
}

/** Maps a row to a Job; the payload is JSON-parsed but not validated (lease validates it). */
export function rowToJob(row: JobRow): Job {
  return {
    id: row.id,
    kind: row.kind as JobKind,
    name: row.name,
    dedupeKey: row.dedupe_key,
    concurrencyKey: row.concurrency_key,
    node: row.node ?? null,
    payload: JSON.parse(row.payload) as Job["payload"],
    state: row.state as JobState,
    attempts: row.attempts,
    maxAttempts: row.max_attempts,
    runAfter: row.run_after,
    leaseOwner: row.lease_owner,
    leaseToken: row.lease_token,
    leaseExpiresAt: row.lease_expires_at,
    lastError: row.last_error,
    lastErrorAt: row.last_error_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    finishedAt: row.finished_at,
  } as Job;
}

/** A transfers row as SQLite returns it. */
export interface TransferRow {
  id: number;
  job_id: number | null;
  job_name: string;
  path: string;
  bytes: number;
  duration_ms: number;
  verified: string;
  finished_at: number;
}

/** Maps a transfers row to a Transfer. */
export function rowToTransfer(row: TransferRow): Transfer {
  return {
    id: row.id,
    jobId: row.job_id,
    jobName: row.job_name,
    path: row.path,
    bytes: row.bytes,
    durationMs: row.duration_ms,
    verified: row.verified,
    finishedAt: row.finished_at,
  };
}

/** "Name: message" of any thrown value, capped so one huge error cannot bloat the database. */
export function describeError(err: unknown): string {
  const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return text.length > 4000 ? `${text.slice(0, 4000)}…` : text;
}
