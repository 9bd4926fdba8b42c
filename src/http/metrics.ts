import type { Counter as CounterType, Registry } from "prom-client";
import type { DaemonOperations } from "../daemon/operations.js";
import { promClient } from "./deps.js";

const { collectDefaultMetrics, Counter, Gauge, Histogram, Registry: RegistryClass } = promClient;

/** Buckets of a job run's duration in seconds: from a no-change scan to a long first mirror. */
const RUN_BUCKETS = [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 14_400];

/**
 * The daemon's Prometheus metrics in their own registry (not prom-client's global one: two
 * daemons in one process, as in tests, must not share series). The ferry job is the label
 * `ferry_job`: `job` and `instance` belong to Prometheus' scrape target. Counters come from the daemon's
 * activity since start; gauges are read from the queue and the remotes at scrape time.
 */
export function createMetrics(ops: DaemonOperations): Registry {
  const register = new RegistryClass();
  // Every series names the node, so one Prometheus can scrape a fleet sharing a queue.
  register.setDefaultLabels({ node: ops.config.node });
  // The event-loop lag monitor samples every 10 ms by default, which alone kept an idle daemon
  // at a measurable CPU share (bench/README.md); a 100 ms resolution still shows real stalls.
  collectDefaultMetrics({ register, eventLoopMonitoringPrecision: 100 });
  // prom-client names these gauges *_total, which Prometheus reserves for counters (promtool
  // flags them); the process metrics that matter (CPU, memory, fds, event loop lag) stay.
  for (const name of ["nodejs_active_handles_total", "nodejs_active_requests_total", "nodejs_active_resources_total"]) register.removeSingleMetric(name);
  const a = ops.activity;
  const fromMap = (counter: CounterType<string>, map: ReadonlyMap<string, number>): void => {
    counter.reset();
    for (const [key, n] of map) {
      const { job, ...rest } = JSON.parse(key) as Record<string, string>;
      counter.inc(job === undefined ? rest : { ferry_job: job, ...rest }, n);
    }
  };
  new Counter({
    name: "ferry_transfers_total", help: "Files transferred (result ok) or given up in a run (result failed), by job, remote and direction.",
    labelNames: ["ferry_job", "remote", "direction", "result"], registers: [register],
    collect() { fromMap(this, a.transferCounts); },
  });
  new Counter({
    name: "ferry_transfer_bytes_total", help: "Bytes moved over data connections, by job, remote and direction.",
    labelNames: ["ferry_job", "remote", "direction"], registers: [register],
    collect() { fromMap(this, a.byteCounts); },
  });
  new Counter({
    name: "ferry_job_failures_total", help: "Failed job runs (retried or dead), by job and reason class.",
    labelNames: ["ferry_job", "reason"], registers: [register],
    collect() { fromMap(this, a.failureCounts); },
  });
  new Counter({
    name: "ferry_verifications_total", help: "Recorded transfers by how each was verified (a hash name, or size).",
    labelNames: ["kind"], registers: [register],
    collect() { fromMap(this, a.verifiedCounts); },
  });
  const durations = new Histogram({
    name: "ferry_job_run_duration_seconds", help: "Duration of job runs, by job and outcome (succeeded, failed, dead, deferred).",
    labelNames: ["ferry_job", "outcome"], buckets: RUN_BUCKETS, registers: [register],
  });
  a.onRunEnd((job, outcome, seconds) => durations.observe({ ferry_job: job, outcome }, seconds));
  new Gauge({
    name: "ferry_queue_jobs", help: "Runs in the queue database by state (queued, leased, failed, done, dead).",
    labelNames: ["state"], registers: [register],
    async collect() {
      const depth = await ops.queueDepth();
      this.reset();
      for (const [state, n] of Object.entries(depth)) this.set({ state }, n);
    },
  });
  remoteGauges(ops, register);
  jobGauges(ops, register);
  return register;
}

/** A value computed at most once per scrape: the gauges of one scrape share one read of the queue. */
function perScrape<T>(read: () => T, ttlMs = 500): () => T {
  let at = -Infinity;
  let value: T | undefined;
  return () => {
    const now = performance.now();
    if (value === undefined || now - at > ttlMs) {
      value = read();
      at = now;
    }
    return value;
  };
}

function remoteGauges(ops: DaemonOperations, register: Registry): void {
  const remotes = perScrape(() => ops.remotes());
  const gauge = (name: string, help: string, value: (r: ReturnType<DaemonOperations["remotes"]>[number]) => number) => new Gauge({
    name, help, labelNames: ["remote"], registers: [register],
    collect() {
      this.reset();
      for (const r of remotes()) this.set({ remote: r.name }, value(r));
    },
  });
  gauge("ferry_remote_up", "1 when the remote is reachable (or not yet tried), 0 while the daemon cannot reach it or its login is refused.", (r) => (r.reachable ? 1 : 0));
  gauge("ferry_remote_login_refused", "1 while the remote refuses the daemon's login (wrong user or password).", (r) => (r.loginRefused ? 1 : 0));
  gauge("ferry_remote_connections", "FTP control connections open to the remote now.", (r) => r.connections);
}

function jobGauges(ops: DaemonOperations, register: Registry): void {
  const snapshot = perScrape(async () => {
    const [status, paused] = await Promise.all([ops.status(), ops.actions.paused()]);
    return { jobs: status.jobs, paused: new Set(paused.map((p) => p.name)) };
  });
  type JobView = Awaited<ReturnType<DaemonOperations["status"]>>["jobs"][number];
  const gauge = (name: string, help: string, value: (j: JobView, paused: boolean) => number | null) => new Gauge({
    name, help, labelNames: ["ferry_job"], registers: [register],
    async collect() {
      const s = await snapshot();
      this.reset();
      for (const j of s.jobs) {
        const v = value(j, s.paused.has(j.name));
        if (v !== null) this.set({ ferry_job: j.name }, v);
      }
    },
  });
  const seconds = (iso: string | null) => (iso === null ? null : Date.parse(iso) / 1000);
  gauge("ferry_job_last_success_timestamp_seconds", "Unix time of the job's last successful run (absent before its first).", (j) => seconds(j.lastSuccessAt));
  gauge("ferry_job_next_run_timestamp_seconds", "Unix time of the job's next scheduled or retry run (absent when none is due).", (j) => seconds(j.nextRunAt));
  gauge("ferry_job_dead", "1 when the job's last run gave up (dead) and no later run succeeded.", (j) => (j.state === "dead" ? 1 : 0));
  gauge("ferry_job_paused", "1 while an operator has paused the job.", (_j, paused) => (paused ? 1 : 0));
  gauge("ferry_job_running", "Runs of the job in progress now.", (j) => j.counts.leased);
}
