import type { HookDelivery } from "../Queue.js";
import type { Job, JobKind, JobState, Transfer } from "../types.js";

/** A jobs row as pg returns it (bigint as number, jsonb parsed; see PgDatabase). */
export interface PgJobRow {
  id: number;
  kind: string;
  name: string;
  dedupe_key: string | null;
  concurrency_key: string | null;
  node: string | null;
  payload: unknown;
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

/** Maps a row to a Job; the payload is not validated here (lease validates it). */
export function pgRowToJob(row: PgJobRow): Job {
  return {
    id: row.id,
    kind: row.kind as JobKind,
    name: row.name,
    dedupeKey: row.dedupe_key,
    concurrencyKey: row.concurrency_key,
    node: row.node ?? null,
    payload: row.payload as Job["payload"],
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

/** A transfers row as pg returns it. */
export interface PgTransferRow {
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
export function pgRowToTransfer(row: PgTransferRow): Transfer {
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

/** A hook_deliveries row as pg returns it. */
export interface PgDeliveryRow {
  id: number;
  hook: string;
  event: string;
  job_name: string | null;
  facts: unknown;
  state: string;
  attempts: number;
  next_attempt_at: number;
  last_error: string | null;
  created_at: number;
}

/** Maps a hook_deliveries row to a HookDelivery. */
export function pgRowToDelivery(r: PgDeliveryRow): HookDelivery {
  return {
    id: r.id,
    hook: r.hook,
    event: r.event as HookDelivery["event"],
    jobName: r.job_name,
    facts: r.facts as HookDelivery["facts"],
    state: r.state as HookDelivery["state"],
    attempts: r.attempts,
    nextAttemptAt: r.next_attempt_at,
    lastError: r.last_error,
    createdAt: r.created_at,
  };
}
