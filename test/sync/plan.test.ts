import { test } from "node:test";
import assert from "node:assert/strict";
import { buildPlan, describePlan, type PlanOp } from "../../src/sync/plan.js";
import { SyncState } from "../../src/sync/state.js";
import type { Entry } from "../../src/sync/tree.js";
import { dir, file, tree } from "./fixtures.js";

const T = 1_700_000_000;
const short = (ops: readonly PlanOp[]) => ops.map((op) => `${op.kind} ${op.path}`);

const rows: { title: string; src: Entry[]; dst: Entry[]; del?: boolean; ops: string[]; unchanged?: number; conflicts?: number }[] = [
  { title: "empty to empty", src: [], dst: [], ops: [] },
  { title: "new tree: folders first, parents before children, then files",
    src: [file("z"), dir("a"), dir("a/b"), file("a/b/f"), dir("e")], dst: [],
    ops: ["mkdir a", "mkdir a/b", "mkdir e", "upload a/b/f", "upload z"] },
  { title: "unchanged files need nothing", src: [file("f", 5, T)], dst: [file("f", 5, T)], ops: [], unchanged: 1 },
  { title: "changed file is sent", src: [file("f", 6, T)], dst: [file("f", 5, T)], ops: ["upload f"] },
  { title: "extraneous entries stay without --delete", src: [], dst: [dir("old"), file("old/x"), file("y")], ops: [] },
  { title: "--delete removes extraneous entries last, children before parents",
    src: [file("new")], dst: [dir("old"), dir("old/in"), file("old/in/x"), file("y")], del: true,
    ops: ["upload new", "delete y", "delete old/in/x", "delete old/in", "delete old"] },
  { title: "file against folder is a conflict, left alone", src: [file("x")], dst: [dir("x"), file("x/inner")], del: true,
    ops: [], conflicts: 1 },
];

for (const row of rows) {
  test(`buildPlan: ${row.title}`, () => {
    const plan = buildPlan(tree(...row.src), tree(...row.dst), { direction: "upload", delete: row.del ?? false });
    assert.deepEqual(short(plan.ops), row.ops);
    assert.equal(plan.unchanged.length, row.unchanged ?? 0);
    assert.equal(plan.conflicts.length, row.conflicts ?? 0);
  });
}

test("buildPlan: a leftover partial is resumed when newer than the source and shorter", () => {
  const src = tree(file("big", 100, T), file("gone", 3, T));
  const part = { ...file(".big.ferry-part", 40, T + 10) };
  const stale = { ...file(".other.ferry-part", 4, T + 10) };
  const plan = buildPlan(src, tree(part, stale, file("gone", 3, T)), { direction: "download" });
  assert.deepEqual(short(plan.ops), ["download big", "delete .other.ferry-part"]);
  const op = plan.ops[0]!;
  assert.ok(op.kind === "download" && op.resumeFrom === 40);
  const older = buildPlan(src, tree({ ...part, mtime: new Date((T - 10) * 1000) }), { direction: "download" });
  assert.ok(older.ops[0]!.kind === "download" && older.ops[0]!.resumeFrom === undefined, "a partial older than the source starts over");
});

test("buildPlan: LIST-only destination is trusted only through the sync state", () => {
  const src = tree(file("a", 5, T), file("b", 5, T));
  const dst = tree(file("a", 5, T, false), file("b", 5, T, false));
  const state = SyncState.empty();
  state.set("a", { size: 5, srcStamp: String(T * 1000) });
  const plan = buildPlan(src, dst, { direction: "upload", state });
  assert.deepEqual(short(plan.ops), ["upload b"]);
  assert.match(plan.ops[0]!.kind === "upload" ? plan.ops[0]!.reason : "", /no trustworthy/);
  assert.deepEqual([...plan.sourceFiles].sort(), ["a", "b"]);
});

test("buildPlan: same checksum but different mtime fixes the mtime instead of sending", () => {
  const h = { algorithm: "SHA-256" as const, value: "aa" };
  const plan = buildPlan(tree({ ...file("f", 5, T), hash: h }), tree({ ...file("f", 5, T + 50), hash: h }),
    { direction: "upload", checksum: true });
  assert.deepEqual(short(plan.ops), ["setMtime f"]);
});

test("describePlan lists every op and a total line", () => {
  const plan = buildPlan(tree(dir("d"), file("d/f", 2048)), tree(file("x")), { direction: "upload", delete: true });
  const lines = describePlan(plan);
  assert.deepEqual(lines.slice(0, 3), ["mkdir     d/", "upload    d/f (2.0 KiB; new)", "delete    x (not in source)"]);
  assert.match(lines.at(-1)!, /1 to transfer \(2\.0 KiB\), 1 folders to create, 1 to delete, 0 unchanged, 0 conflicts/);
});
