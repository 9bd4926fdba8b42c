import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { daemonConfigSchema, parseConfig } from "../../src/config/index.js";
import { resolveDaemonConfig, type MirrorJob } from "../../src/daemon/index.js";
import { isDistributed, mirrorHandlerFor, splitIntoParts } from "../../src/daemon/jobs/mirrorRun/index.js";
import type { LeasedJob } from "../../src/queue/index.js";
import type { QueueDriverName } from "../../src/queue/Queue.js";
import type { TransferOp } from "../../src/sync/index.js";

describe("distributed mirror runs: the pure parts", () => {
  it("the distribute decision: auto splits only on a shared (Postgres) queue", () => {
    const rows: { distribute: MirrorJob["distribute"]; driver: QueueDriverName; expected: boolean }[] = [
      { distribute: undefined, driver: "sqlite", expected: false },
      { distribute: undefined, driver: "postgres", expected: true },
      { distribute: "auto", driver: "sqlite", expected: false },
      { distribute: "auto", driver: "postgres", expected: true },
      { distribute: "on", driver: "sqlite", expected: true },
      { distribute: "on", driver: "postgres", expected: true },
      { distribute: "off", driver: "sqlite", expected: false },
      { distribute: "off", driver: "postgres", expected: false },
    ];
    for (const r of rows) assert.equal(isDistributed({ distribute: r.distribute }, r.driver), r.expected, JSON.stringify(r));
  });

  it("the config: distribute defaults to auto, takes on and off, refuses anything else naming the choices", () => {
    const text = (extra: string) => `remotes: { srv: { url: "ftp://h/" } }\njobs:\n  - { name: m, kind: mirror, source: ./l, target: "srv:/r", schedule: "* * * * *"${extra} }\n`;
    const mirror = (extra: string) => resolveDaemonConfig("/etc/ferry/f.yaml", parseConfig("/etc/ferry/f.yaml", text(extra), daemonConfigSchema, {})).mirrors[0]!;
    assert.equal(mirror("").distribute, "auto");
    assert.equal(mirror(", distribute: on").distribute, "on");
    assert.equal(mirror(", distribute: off").distribute, "off");
    assert.throws(() => mirror(", distribute: always"), (err: Error) => /distribute/.test(err.message) && /"auto"/.test(err.message) && /"on"/.test(err.message));
  });

  it("the mirror handler runs the plan step or the single job per mirror and driver", async () => {
    const jobs = new Map<string, MirrorJob>([
      ["a", { distribute: "auto" } as MirrorJob], ["on", { distribute: "on" } as MirrorJob], ["off", { distribute: "off" } as MirrorJob],
    ]);
    const calls: string[] = [];
    const handler = (driver: QueueDriverName) => mirrorHandlerFor({
      jobs, driver,
      single: async (job) => { calls.push(`single ${job.payload.job}`); },
      plan: async (job) => { calls.push(`plan ${job.payload.job}`); return {}; },
    });
    const job = (name: string) => ({ kind: "mirror", payload: { job: name } }) as LeasedJob & { kind: "mirror"; payload: { job: string } };
    const ctx = { signal: new AbortController().signal, workerId: "t" };
    for (const driver of ["sqlite", "postgres"] as const) for (const name of ["a", "on", "off", "gone"]) await handler(driver)(job(name), ctx);
    assert.deepEqual(calls, [
      "single a", "plan on", "single off", "single gone",
      "plan a", "plan on", "single off", "single gone",
    ]);
  });

  it("parts: at most N files or B bytes, in plan order; a file over B goes alone; resumed bytes count what is left", () => {
    const op = (path: string, size: number, resumeFrom?: number): TransferOp => ({ kind: "upload", path, size, reason: "new", ...(resumeFrom ? { resumeFrom } : {}) });
    const names = (parts: TransferOp[][]) => parts.map((p) => p.map((o) => o.path).join(","));
    const rows: { title: string; ops: TransferOp[]; expected: string[] }[] = [
      { title: "none", ops: [], expected: [] },
      { title: "by count", ops: [op("a", 1), op("b", 1), op("c", 1), op("d", 1), op("e", 1)], expected: ["a,b", "c,d", "e"] },
      { title: "by bytes", ops: [op("a", 40), op("b", 40), op("c", 40)], expected: ["a,b", "c"] },
      { title: "a big file alone", ops: [op("a", 10), op("big", 500), op("c", 10)], expected: ["a", "big", "c"] },
      { title: "a resumed file counts its rest", ops: [op("a", 60), op("r", 500, 470)], expected: ["a,r"] },
    ];
    for (const r of rows) assert.deepEqual(names(splitIntoParts(r.ops, { files: 2, bytes: 100 })), r.expected, r.title);
  });
});
