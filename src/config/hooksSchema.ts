import { z } from "zod";
import { duration } from "./duration.js";

/**
 * What a hook can be told about. file.transferred: one verified file at its destination;
 * run.started / run.succeeded / run.failed: one run of a job (a mirror run, or one outbox
 * file's upload), failed meaning an attempt failed (it may be retried); job.dead: a job gave up;
 * remote.unreachable / remote.login-refused / remote.recovered: a remote's health changed.
 */
export const HOOK_EVENTS = [
  "file.transferred", "run.started", "run.succeeded", "run.failed", "job.dead",
  "remote.unreachable", "remote.login-refused", "remote.recovered",
] as const;
/** The name of a hook event. */
export type HookEventName = (typeof HOOK_EVENTS)[number];

const httpUrl = (what: string) => z.string().describe(what).superRefine((url, ctx) => {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    ctx.addIssue({ code: "custom", message: "not a URL; expected http:// or https://host/path" });
    return;
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") ctx.addIssue({ code: "custom", message: `unsupported scheme "${parsed.protocol.slice(0, -1)}"; use http:// or https://` });
});

/** Timeout and retries of one hook's deliveries. */
const deliveryFields = {
  timeout: duration("a delivery that takes longer fails (a command's process group is killed)", "10s", 100, 3_600_000),
  attempts: z.number().int().min(1).max(100).default(5).describe("tries per notification before it is given up (logged, shown by `ferry status`); default 5"),
  retryDelay: duration("wait before the second try, doubling for each later one", "2s", 0, 86_400_000),
  retryMaxDelay: duration("longest wait between tries", "10m", 1, 86_400_000),
};

/** A webhook: an HTTP POST of the event as JSON. */
export const webhookSchema = z.strictObject({
  url: httpUrl("the URL the event is POSTed to as JSON; a 2xx answer is a delivery, anything else a failure"),
  secret: z.string().min(1).optional()
    .describe('HMAC-SHA256 key, usually "${VAR}": the body is signed in the header X-Ferry-Signature-256: sha256=HEX'),
  headers: z.record(z.string().regex(/^[A-Za-z0-9-]+$/, "a header name is letters, digits and '-'"), z.string()).default({})
    .describe('extra request headers, e.g. Authorization: "Bearer ${TOKEN}"'),
});

/** One hook: which events, and what to do (a command or a webhook). */
export const hookSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "letters, digits, '.', '_' and '-'").optional()
    .describe("names the hook in logs and `ferry status`; default its place in the config, e.g. hooks[0] or photos.hooks[1]"),
  on: z.array(z.enum(HOOK_EVENTS, { error: () => `an event is one of ${HOOK_EVENTS.join(", ")}` })).min(1, "name at least one event")
    .describe(`the events that trigger it: ${HOOK_EVENTS.join(", ")}`),
  command: z.array(z.string().min(1), {
    error: (issue) => (typeof issue.input === "string" ? 'an argv list such as ["/usr/local/bin/ingest", "--from", "ferry"]: ferry never runs a shell' : undefined),
  }).min(1).optional()
    .describe("run this program (argv list, no shell) with the event's facts in FERRY_* environment variables; exit 0 is a delivery"),
  env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "a variable name is letters, digits and _"), z.string()).default({})
    .describe("extra environment variables of the command (it gets only PATH, HOME, LANG, TZ and the like from the daemon, not its secrets)"),
  webhook: webhookSchema.optional().describe("POST the event as JSON to a URL"),
  ...deliveryFields,
}).superRefine((h, ctx) => {
  if ((h.command === undefined) === (h.webhook === undefined)) ctx.addIssue({ code: "custom", path: ["command"], message: "give exactly one of command: [argv…] or webhook: { url }" });
  if (h.webhook !== undefined && Object.keys(h.env).length > 0) ctx.addIssue({ code: "custom", path: ["env"], message: "env applies to command hooks only" });
});

/**
 * healthchecks.io-style pings of one job: the start URL when a run starts, success when it
 * succeeds, fail (with the error as body) when it fails, in that order.
 */
export const healthcheckSchema = z.strictObject({
  url: httpUrl("base ping URL: start = URL/start, success = URL, fail = URL/fail (healthchecks.io's convention)").optional(),
  start: httpUrl("pinged when a run starts; default URL/start when url is set").optional(),
  success: httpUrl("pinged when a run succeeds; default url").optional(),
  fail: httpUrl("pinged when a run fails (its error as the body); default URL/fail when url is set").optional(),
  ...deliveryFields,
}).refine((h) => h.url !== undefined || h.start !== undefined || h.success !== undefined || h.fail !== undefined, {
  message: "give url (healthchecks.io style) or at least one of start, success, fail",
});

/** A hook as configured. */
export type HookConfig = z.output<typeof hookSchema>;
/** A job's healthcheck pings as configured. */
export type HealthcheckConfig = z.output<typeof healthcheckSchema>;
