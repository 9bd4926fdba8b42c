import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import { shouldCapYoungGeneration } from "../../src/cli/idleHeap.js";

const MODULE = pathToFileURL(join(dirname(fileURLToPath(import.meta.url)), "..", "..", "src", "cli", "idleHeap.ts")).href;

const rows: { title: string; argv: string[]; execArgv?: string[]; nodeOptions?: string; expected: boolean }[] = [
  { title: "ferry daemon", argv: ["node", "main.js", "daemon", "--config", "f.yaml"], expected: true },
  { title: "with a global flag first", argv: ["node", "main.js", "-v", "daemon", "--config", "f.yaml"], expected: true },
  { title: "another command", argv: ["node", "main.js", "mirror", "a", "b"], expected: false },
  { title: "no command", argv: ["node", "main.js", "--help"], expected: false },
  { title: "the user's --max-semi-space-size wins", argv: ["node", "main.js", "daemon"], execArgv: ["--max-semi-space-size=8"], expected: false },
  { title: "also spelt with underscores", argv: ["node", "main.js", "daemon"], execArgv: ["--max_semi_space_size=8"], expected: false },
  { title: "also in NODE_OPTIONS", argv: ["node", "main.js", "daemon"], nodeOptions: "--enable-source-maps --max-semi-space-size=4", expected: false },
  { title: "other node flags do not count", argv: ["node", "main.js", "daemon"], execArgv: ["--import", "tsx"], nodeOptions: "--max-old-space-size=256", expected: true },
];
for (const row of rows) {
  test(`shouldCapYoungGeneration: ${row.title}`, () => {
    assert.equal(shouldCapYoungGeneration(row.argv, row.execArgv ?? [], row.nodeOptions), row.expected);
  });
}

/** The young generation's size before and after a burst of surviving objects, in a fresh node, capped or not. */
function youngGeneration(cap: boolean): { before: number; after: number } {
  const script = `
    import { getHeapSpaceStatistics } from "node:v8";
    const { capYoungGeneration } = await import(${JSON.stringify(MODULE)});
    const size = () => getHeapSpaceStatistics().find((s) => s.space_name === "new_space").space_size;
    ${cap ? "capYoungGeneration();" : ""}
    const before = size();
    // Survivors, as while modules load: kept across many scavenges.
    const keep = [];
    for (let i = 0; i < 400000; i++) { keep.push({ i, s: "x" + i, a: [i] }); if (keep.length > 150000) keep.splice(0, 50000); }
    console.log(JSON.stringify({ before, after: size(), kept: keep.length }));`;
  const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /unrecognized flag/, "this node's V8 no longer knows --semi-space-growth-factor: find another way to keep the daemon's young generation small");
  return JSON.parse(r.stdout) as { before: number; after: number };
}

test("capYoungGeneration keeps V8's young generation at its size, where it otherwise grows", () => {
  const free = youngGeneration(false);
  // Without this the test could not tell: V8 must grow the young generation under this load.
  assert.ok(free.after > free.before, `V8 did not grow the young generation (${free.before} → ${free.after}); the load is too light to test the cap`);
  const capped = youngGeneration(true);
  assert.equal(capped.after, capped.before);
});
