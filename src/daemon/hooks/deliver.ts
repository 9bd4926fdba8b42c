import { spawn } from "node:child_process";
import { createHmac } from "node:crypto";
import type { HookEventName } from "../../config/index.js";
import type { HookAction } from "./resolve.js";
import { factsToBody, factsToEnv, type HookFacts } from "./facts.js";

/** A delivery that did not succeed; the message says why, without secrets or the URL's path. */
export class HookDeliveryError extends Error {
  override readonly name = "HookDeliveryError";
}

/** The variables a command inherits from the daemon: what programs need to run, never its secrets. */
const INHERITED = ["PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "SHELL"];

/** How much of a failing command's stderr is kept for the error. */
const STDERR_TAIL = 2000;

/** After a timeout's SIGTERM, the process group gets this long before SIGKILL. */
const KILL_GRACE_MS = 1000;

/** The header carrying the body's HMAC-SHA256 (GitHub's format: "sha256=" + hex). */
export const SIGNATURE_HEADER = "X-Ferry-Signature-256";

/** HMAC-SHA256 of a webhook body, as sent in X-Ferry-Signature-256. */
export function signBody(body: string, secret: string): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

/** scheme://host of a URL: enough to say where a delivery went without leaking a token in its path. */
export function urlOrigin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return "(bad URL)";
  }
}

/** The ping URL of a run phase, or undefined when that phase is not pinged. */
function pingUrl(action: Extract<HookAction, { kind: "ping" }>, event: HookEventName): string | undefined {
  if (event === "run.started") return action.start;
  if (event === "run.succeeded") return action.success;
  if (event === "run.failed") return action.fail;
  return undefined;
}

/**
 * Performs one delivery; resolves when it succeeded, throws HookDeliveryError otherwise.
 * `signal` (the daemon stopping) ends it at once: a command's process group is killed.
 */
export async function deliver(action: HookAction, facts: HookFacts, delivery: { id: number; hook: string }, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  switch (action.kind) {
    case "command":
      return runCommand(action.argv, { ...inheritedEnv(), ...factsToEnv(facts, delivery), ...action.env }, timeoutMs, signal);
    case "webhook": {
      const body = factsToBody(facts, delivery);
      const headers: Record<string, string> = {
        ...action.headers, "content-type": "application/json", "user-agent": "ferry-hooks/1",
        "x-ferry-event": facts.event, "x-ferry-delivery": String(delivery.id),
      };
      if (action.secret !== undefined) headers[SIGNATURE_HEADER.toLowerCase()] = signBody(body, action.secret);
      return post(action.url, body, headers, timeoutMs, signal);
    }
    case "ping": {
      const url = pingUrl(action, facts.event);
      if (!url) return;
      // healthchecks.io logs the body: a failure's error is what the operator reads there.
      return post(url, facts.error ?? "", { "content-type": "text/plain; charset=utf-8", "user-agent": "ferry-hooks/1" }, timeoutMs, signal);
    }
    default: {
      const never: never = action;
      throw new Error(`unknown hook action ${JSON.stringify(never)}`);
    }
  }
}

function inheritedEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of INHERITED) if (process.env[name] !== undefined) env[name] = process.env[name]!;
  return env;
}

/** POST body; a 2xx answer is a delivery. Redirects are not followed: a 3xx says the URL in the config is stale. */
async function post(url: string, body: string, headers: Record<string, string>, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  let res: Response;
  try {
    const timeout = AbortSignal.timeout(timeoutMs);
    res = await fetch(url, { method: "POST", body, headers, redirect: "manual", signal: signal ? AbortSignal.any([timeout, signal]) : timeout });
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    const why = e.name === "TimeoutError" ? `no answer within ${timeoutMs} ms` : (e.cause?.code ?? e.cause?.message ?? e.message);
    throw new HookDeliveryError(`POST ${urlOrigin(url)}: ${why}`, { cause: err });
  }
  // The body is not needed; reading it frees the connection.
  const text = await res.text().catch(() => "");
  if (res.status >= 200 && res.status < 300) return;
  const hint = res.status >= 300 && res.status < 400 ? ` (a redirect to ${urlOrigin(res.headers.get("location") ?? "")}: put the final URL in the config)` : "";
  throw new HookDeliveryError(`POST ${urlOrigin(url)}: HTTP ${res.status}${hint}${text ? `: ${text.slice(0, 200)}` : ""}`);
}

/**
 * Runs argv (no shell) in its own process group; exit 0 is a delivery. On timeout the whole
 * group gets SIGTERM, then SIGKILL a second later, so a hung hook's children go too.
 */
function runCommand(argv: readonly string[], env: Record<string, string>, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(new HookDeliveryError("not run: the daemon is stopping"));
  return new Promise((resolve, reject) => {
    const [cmd, ...args] = argv as [string, ...string[]];
    const child = spawn(cmd, args, { env, stdio: ["ignore", "ignore", "pipe"], detached: true });
    let stderr = "";
    let timedOut = false;
    let killTimer: NodeJS.Timeout | undefined;
    child.stderr!.setEncoding("utf8").on("data", (d: string) => {
      stderr = (stderr + d).slice(-STDERR_TAIL);
    });
    const killGroup = (signal: NodeJS.Signals): void => {
      try {
        process.kill(-child.pid!, signal);
      } catch {
        // the group is already gone
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup("SIGTERM");
      killTimer = setTimeout(() => killGroup("SIGKILL"), KILL_GRACE_MS);
    }, timeoutMs);
    // The daemon is stopping and will not wait: nothing of the hook may outlive it.
    const onAbort = (): void => killGroup("SIGKILL");
    signal?.addEventListener("abort", onAbort, { once: true });
    child.once("exit", () => signal?.removeEventListener("abort", onAbort));
    child.on("error", (err) => {
      clearTimeout(timer);
      const code = (err as NodeJS.ErrnoException).code;
      reject(new HookDeliveryError(`${cmd}: cannot run it (${code ?? err.message})${code === "ENOENT" ? "; give an absolute path or a program on PATH" : ""}`, { cause: err }));
    });
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      // After a timeout the SIGKILL still goes: members of the group may ignore SIGTERM.
      if (timedOut) killTimer?.unref();
      const settle = (): void => {
        const tail = stderr.trim() ? `: ${stderr.trim().split("\n").slice(-3).join(" | ")}` : "";
        if (timedOut) reject(new HookDeliveryError(`${cmd}: killed after the ${timeoutMs} ms timeout${tail}`));
        else if (code === 0) resolve();
        else reject(new HookDeliveryError(`${cmd}: ${code !== null ? `exited with ${code}` : `killed by ${signal}`}${tail}`));
      };
      // Its last stderr lines may still be in the pipe; a child it left running may hold the
      // pipe open, so wait briefly, not for the end.
      if (child.stderr!.readableEnded) return settle();
      const wait = setTimeout(settle, 200);
      child.stderr!.once("end", () => {
        clearTimeout(wait);
        settle();
      });
    });
  });
}
