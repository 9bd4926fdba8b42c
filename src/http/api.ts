import type { FastifyInstance, FastifyReply } from "fastify";
import { JobActionError, type ActionResult } from "../daemon/jobActions.js";
import type { DaemonOperations } from "../daemon/operations.js";

/** What GET /api/v1/status returns: `ferry status --json` plus what only the running daemon knows. */
export async function apiStatus(ops: DaemonOperations) {
  const [status, paused, ready, queue, dead] = await Promise.all([ops.status(), ops.actions.paused(), ops.ready(), ops.queueDepth(), ops.actions.dead()]);
  const pausedNames = new Set(paused.map((p) => p.name));
  return {
    ...status,
    jobs: status.jobs.map((j) => ({ ...j, paused: pausedNames.has(j.name) })),
    ready,
    queue,
    remotes: ops.remotes(),
    running: ops.activity.running(),
    dead,
    paused,
  };
}

/** An optional `?id=N` query: a positive integer, or a 400 naming the problem. */
function idOf(query: unknown, reply: FastifyReply): number | undefined | null {
  const raw = (query as { id?: unknown } | undefined)?.id;
  if (raw === undefined) return undefined;
  const id = typeof raw === "string" && /^\d{1,15}$/.test(raw) ? Number(raw) : NaN;
  if (Number.isSafeInteger(id) && id > 0) return id;
  void reply.code(400).send({ error: `id must be a positive integer (a run id from GET /api/v1/status), not ${JSON.stringify(raw)}` });
  return null;
}

/** Runs an action and maps its refusal to 404 (no such job or run) or 409 (not possible now). */
async function act(reply: FastifyReply, code: number, fn: () => Promise<ActionResult>): Promise<FastifyReply> {
  try {
    return reply.code(code).send(await fn());
  } catch (err) {
    if (err instanceof JobActionError) return reply.code(err.kind === "unknown" ? 404 : 409).send({ error: err.message });
    throw err;
  }
}

/** The JSON API under /api/v1 (README, "Watching a fleet"; scripts depend on these paths). */
export function registerApi(app: FastifyInstance, ops: DaemonOperations): void {
  app.get("/api/v1/status", async () => apiStatus(ops));
  type Named = { Params: { name: string } };
  app.post<Named>("/api/v1/jobs/:name/run", async (req, reply) => act(reply, 202, () => ops.actions.run(req.params.name)));
  app.post<Named>("/api/v1/jobs/:name/pause", async (req, reply) => act(reply, 200, () => ops.actions.pause(req.params.name)));
  app.post<Named>("/api/v1/jobs/:name/resume", async (req, reply) => act(reply, 200, () => ops.actions.resume(req.params.name)));
  app.post<Named>("/api/v1/jobs/:name/cancel", async (req, reply) => {
    const id = idOf(req.query, reply);
    if (id === null) return reply;
    return act(reply, 200, () => ops.actions.cancel(req.params.name, id));
  });
  app.post("/api/v1/dead/retry", async (req, reply) => {
    const id = idOf(req.query, reply);
    if (id === null) return reply;
    return act(reply, 200, () => ops.actions.retry(id === undefined ? {} : { id }));
  });
}
