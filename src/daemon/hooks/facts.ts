import type { HookEventName } from "../../config/index.js";

/**
 * What a hook is told about an event: the webhook's JSON body (plus `delivery`) and, as
 * FERRY_UPPER_SNAKE variables, a command's environment. Fields that do not apply are absent.
 */
export interface HookFacts {
  readonly event: HookEventName;
  /** When it happened, ISO 8601. */
  readonly time: string;
  /** The config job name. */
  readonly job?: string;
  /** "mirror" or "upload". */
  readonly kind?: string;
  /** The remote's name. */
  readonly remote?: string;
  /** upload (local → remote) or download (remote → local). */
  readonly direction?: string;
  /** file.transferred: where the file now is (the remote path of an upload, the local path of a download). */
  readonly path?: string;
  /** file.transferred: where it came from. */
  readonly source?: string;
  /** file.transferred: its size; run.succeeded: the bytes sent in the run. */
  readonly bytes?: number;
  /** How the copy was verified: a hash algorithm ("sha256", "md5", …) or "size only". */
  readonly verified?: string;
  /** The verified checksum (hex), when the server could hash. */
  readonly hash?: string;
  readonly hashAlgorithm?: string;
  /** The queue job's id and its attempt number. */
  readonly jobId?: number;
  readonly attempt?: number;
  /** run.succeeded: how long the run took and how many files it transferred. */
  readonly durationMs?: number;
  readonly files?: number;
  /** run.failed, job.dead, remote.*: what went wrong. */
  readonly error?: string;
  /** run.failed: when the job is tried again (ISO 8601). */
  readonly retryAt?: string;
}

/** FERRY_EVENT, FERRY_JOB, FERRY_PATH, FERRY_BYTES, FERRY_HASH, FERRY_HASH_ALGORITHM, … of the facts. */
export function factsToEnv(facts: HookFacts, delivery: { id: number; hook: string }): Record<string, string> {
  const env: Record<string, string> = { FERRY_DELIVERY: String(delivery.id), FERRY_HOOK: delivery.hook };
  for (const [key, value] of Object.entries(facts)) {
    if (value === undefined || value === null) continue;
    env[`FERRY_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`] = String(value);
  }
  return env;
}

/** The webhook body: the facts with the delivery id (the receiver's key for at-least-once duplicates). */
export function factsToBody(facts: HookFacts, delivery: { id: number; hook: string }): string {
  return JSON.stringify({ ...facts, delivery: delivery.id, hook: delivery.hook });
}
