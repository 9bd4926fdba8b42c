import type { RunnerLane } from "../../queue/index.js";
import type { RemoteEndpoint } from "../remotes.js";

// How outbox upload jobs are leased (issue 13): their own concurrency key per remote and their
// own lane of the worker runner, so that more of them run at once than the remote has
// connections (they stream through jobs/uploadLane.ts) without taking workers or mirror slots.

/** Outbox files a remote may have in flight per connection: enough for each connection's pipeline to find the next file waiting. */
export const OUTBOX_FILES_PER_CONNECTION = 4;

/** The queue's concurrency key of outbox uploads to a remote; apart from the remote's name, which mirror jobs use, so a busy outbox never holds a mirror back. */
export function outboxConcurrencyKey(remote: string): string {
  return `outbox:${remote}`;
}

/** The remote an upload job's concurrency key names (older rows used the remote's name itself). */
export function remoteOfConcurrencyKey(key: string): string {
  return key.startsWith("outbox:") ? key.slice("outbox:".length) : key;
}

/**
 * The worker runner's lane for upload jobs: up to OUTBOX_FILES_PER_CONNECTION files per
 * connection of each remote at once (its jobs mostly wait for their turn on a connection), and
 * not counted against `workers`. Rows queued by an older version under the remote's own key
 * keep that key's cap.
 */
export function outboxRunnerLane(endpoints: readonly Pick<RemoteEndpoint, "name" | "connections">[]): RunnerLane {
  const keyLimits: Record<string, number> = {};
  let concurrency = 0;
  for (const e of endpoints) {
    keyLimits[e.name] = e.connections;
    keyLimits[outboxConcurrencyKey(e.name)] = e.connections * OUTBOX_FILES_PER_CONNECTION;
    concurrency += e.connections * OUTBOX_FILES_PER_CONNECTION;
  }
  return { name: "outbox", kinds: ["upload"], concurrency: Math.max(1, concurrency), keyLimits };
}
