import { hostname } from "node:os";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { startRelay, type Relay } from "../helpers/relay.js";
import { pseudoRandomBytes } from "../helpers/tmp.js";
import { authed, PASSWORD, startHttpDaemon, waitForStatus, type HttpDaemon } from "./harness.js";

/** promtool from Debian's prometheus package; under CI its absence fails the test. */
function promtool(): string | undefined {
  const found = spawnSync("promtool", ["--version"], { encoding: "utf8" });
  if (found.status === 0) return "promtool";
  if (process.env.CI === "true") throw new Error("promtool is not installed: CI must install the prometheus package (.ci/run)");
  return undefined;
}

/** The value of one series in a Prometheus text scrape, or undefined. */
/** A series without the node label every series carries (checked once below), so the cases name only their own labels. */
function withoutNode(line: string): string {
  return line.replace(/([{,])node="[^"]*",?/, "$1").replace(/,}/, "}").replace(/{}/, "");
}

function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").map(withoutNode).find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe("GET /metrics during a running mirror (a spawned daemon; the data connection stalls through a relay)", () => {
  let d: HttpDaemon;
  let relay: Relay;
  let scrape = "";

  before(async () => {
    // The relay is started after the server, so its port is known before the config is written:
    // start the daemon with the stalling remote pointing at a relay built on the server's port.
    d = await startHttpDaemon({
      jobs: [{ name: "big", kind: "mirror", source: "./big", target: "slow:/big", schedule: "0 0 1 1 *", catchUp: false }],
      remotes: { slow: { url: "ftp://edge@127.0.0.1:1/", password: PASSWORD, connections: 2 } },
      beforeStart: async (dir, serverPort, config) => {
        relay = await startRelay({ targetPort: serverPort, stallData: { afterBytes: 256 * 1024, on: /^STOR/, times: 1000 } });
        (config.remotes as Record<string, { url: string }>).slow!.url = `ftp://edge@127.0.0.1:${relay.port}/`;
        await writeFile(join(dir, "big.bin"), "");
        const { mkdir } = await import("node:fs/promises");
        await mkdir(join(dir, "big"));
        await writeFile(join(dir, "big", "large.bin"), pseudoRandomBytes(4 * 1024 * 1024, 9));
      },
    });
  });
  after(async () => {
    await d?.stop();
    await relay?.close();
  });

  it("counts a finished run, then shows the stalled one as running with its bytes; promtool accepts the scrape", async () => {
    assert.equal((await fetch(`${d.base}/api/v1/jobs/photos/run`, authed({ method: "POST" }))).status, 202);
    await waitForStatus(d, "photos ok", (s) => s.jobs.find((j) => j.name === "photos")?.state === "ok");
    assert.equal((await fetch(`${d.base}/api/v1/jobs/big/run`, authed({ method: "POST" }))).status, 202);
    const s = await waitForStatus(d, "big running with bytes", (x) => x.running.some((r) => r.job === "big" && r.bytes >= 256 * 1024));
    const run = s.running.find((r) => r.job === "big")!;
    assert.deepEqual(run.files.map((f) => (f as { path: string }).path), ["large.bin"]);
    const res = await fetch(`${d.base}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
    scrape = await res.text();
    assert.equal(sample(scrape, 'ferry_job_running{ferry_job="big"}'), 1);
    assert.ok(sample(scrape, 'ferry_transfer_bytes_total{ferry_job="big",remote="slow",direction="upload"}')! >= 256 * 1024);
    assert.equal(sample(scrape, 'ferry_transfers_total{ferry_job="photos",remote="srv",direction="upload",result="ok"}'), 2);
    assert.equal(sample(scrape, 'ferry_transfer_bytes_total{ferry_job="photos",remote="srv",direction="upload"}'), 70_000);
    assert.ok(sample(scrape, 'ferry_remote_connections{remote="slow"}')! >= 1);
    assert.equal(sample(scrape, 'ferry_remote_up{remote="srv"}'), 1);
    assert.equal(sample(scrape, 'ferry_queue_jobs{state="leased"}'), 1);
    assert.equal(sample(scrape, 'ferry_job_run_duration_seconds_count{ferry_job="photos",outcome="succeeded"}'), 1);
    assert.ok(sample(scrape, 'ferry_job_last_success_timestamp_seconds{ferry_job="photos"}')! > Date.now() / 1000 - 600);
    assert.ok(sample(scrape, 'ferry_job_next_run_timestamp_seconds{ferry_job="photos"}')! > Date.now() / 1000);
    assert.equal(sample(scrape, 'ferry_job_dead{ferry_job="photos"}'), 0);
    assert.match(scrape.split("\n").map(withoutNode).join("\n"), /^ferry_verifications_total\{kind="[a-z0-9+_-]+"\} 2$/m);
    // Every series names the node (one Prometheus scraping a fleet tells them apart).
    const series = scrape.split("\n").filter((l) => l !== "" && !l.startsWith("#"));
    assert.ok(series.length > 20);
    assert.deepEqual(series.filter((l) => !l.includes(`node="${hostname()}"`)), []);
    assert.ok(sample(scrape, "process_resident_memory_bytes")! > 0);
  });

  it("promtool check metrics finds no problem in that scrape", (t) => {
    assert.notEqual(scrape, "", "the scrape of the first test");
    const tool = promtool();
    if (!tool) {
      t.skip("promtool not installed (apt-get install prometheus)");
      return;
    }
    const r = spawnSync(tool, ["check", "metrics"], { input: scrape, encoding: "utf8" });
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  });
});
