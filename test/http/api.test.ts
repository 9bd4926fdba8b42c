import assert from "node:assert/strict";
import { request } from "node:http";
import { after, before, describe, it } from "node:test";
import { collectStatus, loadDaemonConfig } from "../../src/daemon/index.js";
import { JobStore, openDatabase } from "../../src/queue/index.js";
import { runFerry } from "../helpers/cli.js";
import { authed, PASSWORD, status, startHttpDaemon, TOKEN, waitForStatus, type HttpDaemon } from "./harness.js";

/** Reads an SSE stream until `until` returns true for the events so far; resolves with them. */
function readEvents(url: string, until: (events: { type: string; data: Record<string, unknown> }[]) => boolean, onOpen: () => void): Promise<{ type: string; data: Record<string, unknown> }[]> {
  return new Promise((resolve, reject) => {
    const events: { type: string; data: Record<string, unknown> }[] = [];
    const req = request(url, (res) => {
      let buffer = "";
      res.setEncoding("utf8").on("data", (chunk: string) => {
        buffer += chunk;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const type = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (type && data) events.push({ type, data: JSON.parse(data) as Record<string, unknown> });
          if (type === "hello") onOpen();
        }
        if (until(events)) {
          req.destroy();
          resolve(events);
        }
      });
    });
    req.on("error", (err) => (err.message === "socket hang up" ? resolve(events) : reject(err)));
    req.setTimeout(20_000, () => req.destroy(new Error(`event stream: timed out; got ${JSON.stringify(events).slice(0, 2000)}`)));
    req.end();
  });
}

describe("the daemon's HTTP API (a spawned daemon, http on loopback)", () => {
  let d: HttpDaemon;
  /** Every body a GET returned, checked for secrets at the end. */
  const bodies: string[] = [];
  const get = async (path: string, init?: RequestInit): Promise<Response> => {
    const res = await fetch(`${d.base}${path}`, init);
    bodies.push(await res.clone().text());
    return res;
  };

  before(async () => {
    d = await startHttpDaemon({
      // A mirror whose source folder does not exist: with one attempt, a run goes dead.
      jobs: [{ name: "broken", kind: "mirror", source: "./no-such-folder", target: "srv:/broken", schedule: "0 0 1 1 *", catchUp: false }],
    });
  });
  after(async () => {
    const r = await d?.stop();
    assert.equal(r?.code, 0, d?.daemon.stderr.slice(-2000));
  });

  it("GET /healthz and /readyz answer 200 once the daemon runs", async () => {
    assert.deepEqual(await (await get("/healthz")).json(), { alive: true });
    const ready = await get("/readyz");
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), { ready: true });
  });

  it("GET /api/v1/status has what `ferry status --json` prints, plus remotes, queue, running, dead and paused", async () => {
    const s = await status(d);
    // What `ferry status --json` prints, read the same way in this process.
    const printed = await collectStatus(await loadDaemonConfig(d.configFile));
    assert.equal(s.daemonPid, printed.daemonPid);
    assert.deepEqual(s.jobs.map((j) => j.name), printed.jobs.map((j) => j.name));
    assert.deepEqual(s.jobs.map((j) => j.paused), [false, false]);
    assert.deepEqual(s.remotes.map((r) => [r.name, r.url, r.reachable]), [["srv", `ftp://edge@127.0.0.1:${d.server.port}/`, true]]);
    assert.deepEqual(Object.keys(s.queue).sort(), ["dead", "done", "failed", "leased", "queued"]);
    assert.deepEqual(s.running, []);
  });

  it("an action without the token, with a wrong one, or with the token in the URL or a cookie is refused with 401", async () => {
    const url = `${d.base}/api/v1/jobs/photos/run`;
    const tries: [string, RequestInit, string][] = [
      ["no token", { method: "POST" }, url],
      ["wrong token", { method: "POST", headers: { authorization: "Bearer wrong-token-0123456789" } }, url],
      ["token in the query", { method: "POST" }, `${url}?token=${TOKEN}&access_token=${TOKEN}`],
      ["token in a cookie", { method: "POST", headers: { cookie: `token=${TOKEN}; ferry.token=${TOKEN}` } }, url],
      ["token as Basic", { method: "POST", headers: { authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString("base64")}` } }, url],
    ];
    for (const [what, init, target] of tries) {
      const res = await fetch(target, init);
      assert.equal(res.status, 401, what);
      assert.match(res.headers.get("www-authenticate") ?? "", /^Bearer/, what);
      assert.match(((await res.json()) as { error: string }).error, /bearer token/, what);
    }
    // Nothing ran: the queue holds no run of photos.
    const counts = (await status(d)).jobs.find((j) => j.name === "photos")!.counts;
    assert.equal(counts.queued! + counts.leased! + counts.done!, 0);
  });

  it("GET cannot change state: action paths answer 404 to GET and nothing is queued", async () => {
    for (const path of ["/api/v1/jobs/photos/run", "/api/v1/jobs/photos/pause", "/api/v1/dead/retry", "/api/v1/jobs/photos/cancel"]) {
      const res = await get(path, authed());
      assert.equal(res.status, 404, path);
    }
    const s = await status(d);
    assert.equal(s.paused.length, 0);
    assert.equal(s.queue.queued! + s.queue.done! + s.queue.leased!, 0);
  });

  it("a body over the limit is refused with 413", async () => {
    const res = await fetch(`${d.base}/api/v1/jobs/photos/run`, authed({ method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ pad: "x".repeat(40_000) }) }));
    assert.equal(res.status, 413);
  });

  it("POST run: the run happens, its events stream out, and the transfers appear with how each was verified", async () => {
    let runResponse: Response | undefined;
    const events = await readEvents(`${d.base}/api/v1/events`, (ev) => ev.some((e) => e.type === "job:succeeded" && e.data.job === "photos"), () => {
      void fetch(`${d.base}/api/v1/jobs/photos/run`, authed({ method: "POST" })).then((r) => (runResponse = r));
    });
    assert.equal(runResponse?.status, 202);
    const types = events.filter((e) => e.data.job === "photos").map((e) => e.type);
    assert.ok(types.includes("job:run-requested"), types.join());
    assert.ok(types.includes("job:started"), types.join());
    assert.deepEqual(events.filter((e) => e.type === "transfer:done").map((e) => e.data.path).sort(), ["2026/b.jpg", "a.jpg"]);
    const s = await waitForStatus(d, "photos ok", (x) => x.jobs.find((j) => j.name === "photos")?.state === "ok");
    const photos = s.jobs.find((j) => j.name === "photos")!;
    assert.deepEqual(photos.recentTransfers.map((t) => [t.path, t.bytes]).sort(), [["/photos/2026/b.jpg", 20_000], ["/photos/a.jpg", 50_000]]);
    for (const t of photos.recentTransfers) assert.match(t.verified, /SHA-256|sha-256|size/i);
    assert.notEqual(photos.lastSuccessAt, null);
  });

  it("pause and resume are kept in the queue database: the CLI sees the API's pause and the API the CLI's resume", async () => {
    const res = await fetch(`${d.base}/api/v1/jobs/photos/pause`, authed({ method: "POST" }));
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { paused: boolean }).paused, true);
    assert.equal((await status(d)).jobs.find((j) => j.name === "photos")!.paused, true);
    const shown = await runFerry(["status", "--config", d.configFile]);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /^photos \(\w+\) — \w+, PAUSED since \d{4}-.*\(ferry jobs resume photos\)$/m);
    assert.doesNotMatch(shown.stdout, /^(?!photos ).*PAUSED/m);
    const refused = await fetch(`${d.base}/api/v1/jobs/photos/run`, authed({ method: "POST" }));
    assert.equal(refused.status, 409);
    assert.match(((await refused.json()) as { error: string }).error, /paused; resume it first/);
    const resumed = await runFerry(["jobs", "resume", "photos", "--config", d.configFile]);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stdout, /photos: resumed/);
    assert.equal((await status(d)).jobs.find((j) => j.name === "photos")!.paused, false);
    assert.equal((await collectStatus(await loadDaemonConfig(d.configFile))).jobs.find((j) => j.name === "photos")!.pausedAt, null);
  });

  it("a paused job's waiting run is not started; cancel removes it", async () => {
    assert.equal((await fetch(`${d.base}/api/v1/jobs/photos/pause`, authed({ method: "POST" }))).status, 200);
    // A schedule tick while paused: the run waits in the queue.
    const db = openDatabase(d.database);
    const id = new JobStore(db).enqueue({ kind: "mirror", payload: { job: "photos" }, dedupeKey: "mirror:photos", concurrencyKey: "srv" }).job.id;
    db.close();
    const waiting = await waitForStatus(d, "the run waiting", (s) => s.jobs.find((j) => j.name === "photos")!.counts.queued === 1);
    assert.equal(waiting.jobs.find((j) => j.name === "photos")!.counts.leased, 0);
    const wrongId = await fetch(`${d.base}/api/v1/jobs/photos/cancel?id=abc`, authed({ method: "POST" }));
    assert.equal(wrongId.status, 400);
    const cancel = await fetch(`${d.base}/api/v1/jobs/photos/cancel?id=${id}`, authed({ method: "POST" }));
    assert.equal(cancel.status, 200);
    assert.deepEqual(((await cancel.json()) as { cancelled: number[] }).cancelled, [id]);
    assert.equal((await status(d)).jobs.find((j) => j.name === "photos")!.counts.queued, 0);
    assert.equal((await fetch(`${d.base}/api/v1/jobs/photos/cancel`, authed({ method: "POST" }))).status, 409);
    assert.equal((await fetch(`${d.base}/api/v1/jobs/photos/resume`, authed({ method: "POST" }))).status, 200);
  });

  it("a dead run is listed with its last error and retried by id (API) or all (CLI); unknown jobs and runs are 404", async () => {
    assert.equal((await fetch(`${d.base}/api/v1/jobs/broken/run`, authed({ method: "POST" }))).status, 202);
    const s = await waitForStatus(d, "broken dead", (x) => x.dead.some((r) => r.job === "broken"));
    const dead = s.dead.find((r) => r.job === "broken")!;
    assert.match(dead.lastError ?? "", /no-such-folder/);
    const retry = await fetch(`${d.base}/api/v1/dead/retry?id=${dead.id}`, authed({ method: "POST" }));
    assert.equal(retry.status, 200);
    assert.deepEqual(((await retry.json()) as { retried: number[] }).retried, [dead.id]);
    // One attempt again: it dies again, and the CLI retries every dead run.
    await waitForStatus(d, "broken dead again", (x) => x.dead.some((r) => r.id === dead.id));
    const all = await runFerry(["jobs", "retry", "--all", "--config", d.configFile]);
    assert.equal(all.code, 0, all.stderr);
    assert.match(all.stdout, /1 dead run\(s\) queued again/);
    await waitForStatus(d, "broken dead a third time", (x) => x.dead.some((r) => r.id === dead.id));
    assert.equal((await fetch(`${d.base}/api/v1/dead/retry?id=999999`, authed({ method: "POST" }))).status, 404);
    assert.equal((await fetch(`${d.base}/api/v1/jobs/nope/run`, authed({ method: "POST" }))).status, 404);
    const cliUnknown = await runFerry(["jobs", "run", "nope", "--config", d.configFile]);
    assert.equal(cliUnknown.code, 2);
    assert.match(cliUnknown.stderr, /no job named "nope".*jobs: photos, broken/);
  });

  it("`ferry jobs run` from the shell queues a run the daemon picks up", async () => {
    const before = (await status(d)).jobs.find((j) => j.name === "photos")!.counts.done!;
    const r = await runFerry(["jobs", "run", "photos", "--config", d.configFile]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /photos: run \d+ queued/);
    await waitForStatus(d, "a second photos run done", (x) => x.jobs.find((j) => j.name === "photos")!.counts.done === before + 1);
  });

  it("no response contains the remote's password or the token (status, metrics, events, dashboard)", async () => {
    await get("/api/v1/status");
    await get("/metrics");
    await get("/");
    await get("/dashboard/app.js");
    const events = await readEvents(`${d.base}/api/v1/events`, (ev) => ev.length > 0, () => {});
    bodies.push(JSON.stringify(events));
    assert.ok(bodies.length >= 10);
    for (const body of bodies) {
      assert.ok(!body.includes(PASSWORD), body.slice(0, 500));
      assert.ok(!body.includes(TOKEN), body.slice(0, 500));
    }
    // Nor the daemon's log.
    assert.ok(!d.daemon.stderr.includes(TOKEN));
    assert.ok(!d.daemon.stderr.includes(PASSWORD));
  });
});
