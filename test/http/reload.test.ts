import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { after, before, describe, it } from "node:test";
import { waitUntil } from "../daemon/harness.js";
import { freePort } from "../helpers/vsftpd.js";
import { startHttpDaemon, status, TOKEN, type HttpDaemon } from "./harness.js";

const NEW_TOKEN = "reloaded-token-abcdef0123456789";
const READY = "HTTP API, metrics and dashboard listening";

/** Whether something answers HTTP on this port. */
async function answers(port: number): Promise<boolean> {
  try {
    return (await fetch(`http://127.0.0.1:${port}/healthz`)).status === 200;
  } catch {
    return false;
  }
}

/** POST an action with this token; resolves with the status code. */
async function pause(port: number, token: string): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}/api/v1/jobs/photos/pause`, { method: "POST", headers: { authorization: `Bearer ${token}` } });
  await res.arrayBuffer();
  return res.status;
}

describe("SIGHUP re-binds the HTTP surface (a real daemon)", () => {
  let d: HttpDaemon;
  let config: Record<string, unknown>;
  /** Writes the config with this http section (undefined: none) and these extra jobs, and sends SIGHUP. */
  const reload = async (http: Record<string, unknown> | undefined, jobs: unknown[] = config.jobs as unknown[]): Promise<void> => {
    const next: Record<string, unknown> = { ...config, jobs };
    if (http === undefined) delete next.http;
    else next.http = http;
    await writeFile(d.configFile, JSON.stringify(next, null, 2));
    d.daemon.kill("SIGHUP");
  };
  const portOf = (i: number) => d.daemon.messages(READY)[i]!.port as number;
  const reloads = () => d.daemon.messages("config reloaded").length;

  before(async () => {
    d = await startHttpDaemon();
    config = JSON.parse(await readFile(d.configFile, "utf8")) as Record<string, unknown>;
  });
  after(async () => {
    const r = await d?.stop();
    if (r) assert.equal(r.code, 0);
  });

  it("a new listen: the new port answers, then the old one is closed", { timeout: 30_000 }, async () => {
    const oldPort = portOf(0);
    const newPort = await freePort();
    await reload({ listen: `127.0.0.1:${newPort}`, token: TOKEN });
    await d.daemon.waitForLog("config reloaded");
    assert.equal(portOf(1), newPort);
    assert.ok(await answers(newPort));
    await waitUntil(async () => !(await answers(oldPort)), { timeoutMs: 10_000, what: "the old listener closed", exited: d.daemon });
    config.http = { listen: `127.0.0.1:${newPort}`, token: TOKEN };
  });

  it("a new token alone: same listener, the old token is refused and the new one accepted", { timeout: 30_000 }, async () => {
    const port = portOf(1);
    const before = reloads();
    await reload({ listen: `127.0.0.1:${port}`, token: NEW_TOKEN });
    await waitUntil(() => reloads() > before, { timeoutMs: 15_000, what: "the reload", exited: d.daemon });
    assert.equal(d.daemon.messages(READY).length, 2, "no new listener for a token change");
    assert.equal(await pause(port, TOKEN), 401);
    assert.equal(await pause(port, NEW_TOKEN), 200);
    config.http = { listen: `127.0.0.1:${port}`, token: NEW_TOKEN };
  });

  it("a listen on a taken port: the reload is refused, the old listener, token and jobs stay", { timeout: 30_000 }, async () => {
    const port = portOf(1);
    const taken: Server = createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    const takenPort = (taken.address() as { port: number }).port;
    try {
      // The same reload adds a job: it must not appear either.
      await reload({ listen: `127.0.0.1:${takenPort}`, token: TOKEN }, [...(config.jobs as unknown[]), { name: "extra", kind: "mirror", source: "./photos", target: "srv:/extra", schedule: "0 0 1 1 *", catchUp: false }]);
      await d.daemon.waitForLog(`config reload refused; the running config stays: http.listen 127.0.0.1:${takenPort}: listen EADDRINUSE: address already in use 127.0.0.1:${takenPort}; pick another port in the daemon config`);
    } finally {
      taken.close();
    }
    assert.ok(await answers(port));
    assert.equal(await pause(port, TOKEN), 401, "the old token stays in force");
    assert.equal(await pause(port, NEW_TOKEN), 200);
    assert.deepEqual((await status({ ...d, base: `http://127.0.0.1:${port}` })).jobs.map((j) => j.name), ["photos"]);
  });

  it("http removed, then added again: the listener closes, then a new one answers", { timeout: 30_000 }, async () => {
    const port = portOf(1);
    let before = reloads();
    await reload(undefined);
    await waitUntil(() => reloads() > before, { timeoutMs: 15_000, what: "the reload without http", exited: d.daemon });
    await waitUntil(async () => !(await answers(port)), { timeoutMs: 10_000, what: "the listener closed", exited: d.daemon });
    before = reloads();
    await reload({ listen: "127.0.0.1:0", token: TOKEN });
    await waitUntil(() => reloads() > before, { timeoutMs: 15_000, what: "the reload with http", exited: d.daemon });
    assert.ok(await answers(portOf(2)));
  });

  it("127.0.0.1:P to 0.0.0.0:P (the kernel refuses both at once): the old listener makes way, the new one answers", { timeout: 30_000 }, async () => {
    const port = await freePort();
    let before = reloads();
    await reload({ listen: `127.0.0.1:${port}`, token: TOKEN });
    await waitUntil(() => reloads() > before, { timeoutMs: 15_000, what: "the reload to a fixed port", exited: d.daemon });
    assert.equal(portOf(3), port);
    before = reloads();
    await reload({ listen: `0.0.0.0:${port}`, token: TOKEN });
    await waitUntil(() => reloads() > before, { timeoutMs: 15_000, what: "the reload to the wildcard address", exited: d.daemon });
    assert.equal(d.daemon.messages(READY).at(-1)!.host, "0.0.0.0");
    assert.ok(await answers(port));
    // An exposed listen: reads need the token now.
    assert.equal((await fetch(`http://127.0.0.1:${port}/api/v1/status`)).status, 401);
  });
});
