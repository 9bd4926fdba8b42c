import type { HealthcheckConfig, HookConfig, HookEventName, JobConfig } from "../../config/index.js";
import type { BackoffPolicy } from "../../queue/index.js";

/** What a hook does with an event. */
export type HookAction =
  | { readonly kind: "command"; readonly argv: readonly string[]; readonly env: Readonly<Record<string, string>> }
  | { readonly kind: "webhook"; readonly url: string; readonly secret?: string; readonly headers: Readonly<Record<string, string>> }
  /** healthchecks.io-style: one URL per run phase; a phase without a URL is not pinged. */
  | { readonly kind: "ping"; readonly start?: string; readonly success?: string; readonly fail?: string };

/** A hook ready to deliver: its id, scope, events, action and delivery policy. */
export interface ResolvedHook {
  /** Its name, or its place in the config: "hooks[0]", "photos.hooks[1]", "photos.healthcheck". */
  readonly id: string;
  /** The job it belongs to; undefined for a top-level hook (every job's events). */
  readonly job?: string;
  /** The job's remote: a job's hook also hears that remote's events. */
  readonly remote?: string;
  readonly events: ReadonlySet<HookEventName>;
  readonly action: HookAction;
  readonly timeoutMs: number;
  /** Tries per notification. */
  readonly attempts: number;
  readonly backoff: BackoffPolicy;
}

/** The events a healthcheck pings for: start, success, fail. */
const PING_EVENTS: readonly HookEventName[] = ["run.started", "run.succeeded", "run.failed"];

function policy(h: { timeout: number; attempts: number; retryDelay: number; retryMaxDelay: number }): Pick<ResolvedHook, "timeoutMs" | "attempts" | "backoff"> {
  return { timeoutMs: h.timeout, attempts: h.attempts, backoff: { baseMs: h.retryDelay, capMs: Math.max(h.retryMaxDelay, h.retryDelay), jitter: 0.2 } };
}

function resolveHook(h: HookConfig, id: string, scope: { job?: string; remote?: string }): ResolvedHook {
  const action: HookAction = h.command
    ? { kind: "command", argv: h.command, env: h.env }
    : { kind: "webhook", url: h.webhook!.url, ...(h.webhook!.secret !== undefined ? { secret: h.webhook!.secret } : {}), headers: h.webhook!.headers };
  return { id: h.name ?? id, ...scope, events: new Set(h.on), action, ...policy(h) };
}

function resolveHealthcheck(h: HealthcheckConfig, job: string): ResolvedHook {
  const base = h.url?.replace(/\/+$/, "");
  const start = h.start ?? (base ? `${base}/start` : undefined);
  const success = h.success ?? h.url;
  const fail = h.fail ?? (base ? `${base}/fail` : undefined);
  return {
    id: `${job}.healthcheck`, job, events: new Set(PING_EVENTS),
    action: { kind: "ping", ...(start ? { start } : {}), ...(success ? { success } : {}), ...(fail ? { fail } : {}) },
    ...policy(h),
  };
}

/**
 * Every hook of a config: the top-level ones (ids hooks[N]), then each job's hooks (JOB.hooks[N])
 * and healthcheck (JOB.healthcheck). `remoteOf` names a job's remote.
 */
export function resolveHooks(global: readonly HookConfig[], jobs: readonly JobConfig[], remoteOf: (job: JobConfig) => string): ResolvedHook[] {
  const out = global.map((h, i) => resolveHook(h, `hooks[${i}]`, {}));
  for (const job of jobs) {
    const scope = { job: job.name, remote: remoteOf(job) };
    job.hooks.forEach((h, i) => out.push(resolveHook(h, `${job.name}.hooks[${i}]`, scope)));
    if (job.healthcheck) out.push({ ...resolveHealthcheck(job.healthcheck, job.name), remote: scope.remote });
  }
  return out;
}
