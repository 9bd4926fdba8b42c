import { test } from "node:test";
import assert from "node:assert/strict";
import { march, matchListings } from "../../src/sync/march.js";
import { dir, file, tree } from "./fixtures.js";

// Shaped like rclone's TestMatchListings: what each row gives, and the pairs expected.
const rows: { title: string; src: ReturnType<typeof file>[]; dst: ReturnType<typeof file>[]; pairs: [string | null, string | null][]; dups?: string[] }[] = [
  { title: "both empty", src: [], dst: [], pairs: [] },
  { title: "one each, same", src: [file("a")], dst: [file("a")], pairs: [["a", "a"]] },
  { title: "src only", src: [file("a"), file("b")], dst: [], pairs: [["a", null], ["b", null]] },
  { title: "dst only", src: [], dst: [file("a")], pairs: [[null, "a"]] },
  { title: "interleaved, unsorted input", src: [file("c"), file("a")], dst: [file("b"), file("c")],
    pairs: [["a", null], [null, "b"], ["c", "c"]] },
  { title: "NFD on one side matches NFC on the other", src: [file("caf\u00e9")], dst: [file("cafe\u0301")],
    pairs: [["caf\u00e9", "cafe\u0301"]] },
  { title: "duplicates after normalisation are skipped", src: [file("caf\u00e9"), file("cafe\u0301")], dst: [],
    pairs: [["caf\u00e9", null]], dups: ["src:cafe\u0301"] },
  { title: "file and folder of the same name pair up as a conflict", src: [file("x"), file("x.txt")], dst: [dir("x"), file("x.txt")],
    pairs: [["x", "x"], ["x.txt", "x.txt"]] },
  { title: "folder keys sort after names with a dot", src: [dir("a"), file("a.b"), file("a b")], dst: [dir("a")],
    pairs: [["a b", null], ["a.b", null], ["a", "a"]] },
  { title: "case differs: different names", src: [file("A")], dst: [file("a")], pairs: [["A", null], [null, "a"]] },
];

for (const row of rows) {
  test(`matchListings: ${row.title}`, () => {
    const dups: string[] = [];
    const got = matchListings(row.src, row.dst, (e, side) => dups.push(`${side}:${e.name}`));
    assert.deepEqual(got.map((p) => [p.src?.name ?? null, p.dst?.name ?? null]), row.pairs);
    assert.deepEqual(dups, row.dups ?? []);
  });
}

test("march descends where the visitor says, and treats a missing folder as empty", () => {
  const src = tree(dir("a"), file("a/1"), dir("a/sub"), file("a/sub/2"), dir("b"), file("b/3"), file("top"));
  const dst = tree(dir("a"), file("a/1"), dir("c"), file("c/4"));
  const seen: string[] = [];
  march(src, dst, {
    srcOnly: (s) => { seen.push(`+${s.path}`); return s.path !== "b"; },
    dstOnly: (d) => { seen.push(`-${d.path}`); return true; },
    match: (s) => { seen.push(`=${s.path}`); return true; },
  });
  assert.deepEqual(seen, ["=a", "+b", "-c", "+top", "=a/1", "+a/sub", "+a/sub/2", "-c/4"]);
  assert.ok(!seen.includes("+b/3"), "did not descend into b");
});
