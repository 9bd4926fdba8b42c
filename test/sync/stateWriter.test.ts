// A SyncState kept elsewhere than a file (the daemon's database): saves, the periodic saveSoon
// of a long run, and a failed write all go through its writer, one at a time.
import { test } from "node:test";
import assert from "node:assert/strict";
import { SyncState, type StateWriter } from "../../src/sync/state.js";

/** A writer that records the records it was given, failing the writes listed in `failing`. */
function recordingWriter(failing: ReadonlySet<number> = new Set()): StateWriter & { writes: string[][]; inFlight: number; most: number; gate: Promise<void> } {
  const w = {
    writes: [] as string[][], inFlight: 0, most: 0, gate: Promise.resolve(),
    async write(state: SyncState): Promise<void> {
      const n = w.writes.length + 1;
      w.inFlight++;
      w.most = Math.max(w.most, w.inFlight);
      w.writes.push([...state.entries()].map(([p, r]) => `${p}:${r.size}`).sort());
      await w.gate;
      w.inFlight--;
      if (failing.has(n)) throw new Error(`write ${n} failed`);
    },
  };
  return w;
}

test("a state with a writer saves through it: only when changed, one write at a time, never to a file", async () => {
  const writer = recordingWriter();
  const s = SyncState.withWriter("/src", "ftp://h/dst", [["a", { size: 1, srcStamp: "1" }]], writer);
  assert.equal(s.file, "");
  assert.equal(s.get("a")?.size, 1);
  await s.save();
  assert.deepEqual(writer.writes, [], "nothing changed since the load: no write");
  s.set("b", { size: 2, srcStamp: "2" });
  let release!: () => void;
  writer.gate = new Promise((r) => (release = r));
  const first = s.save();
  for (let i = 0; i < 100 && writer.inFlight === 0; i++) await new Promise((r) => setImmediate(r));
  assert.equal(writer.inFlight, 1, "the first write is under way");
  s.delete("a");
  const second = s.save();
  release();
  await Promise.all([first, second]);
  assert.deepEqual(writer.writes, [["a:1", "b:2"], ["b:2"]]);
  assert.equal(writer.most, 1);
  s.set("c", { size: 3, srcStamp: "3" });
  s.saveSoon(0);
  await s.save(); // waits for the saveSoon's write, then has nothing left to write
  assert.deepEqual(writer.writes.at(-1), ["b:2", "c:3"]);
  assert.equal(writer.writes.length, 3);
});

test("a failed write rejects the save and keeps the changes for the next one", async () => {
  const writer = recordingWriter(new Set([1]));
  const s = SyncState.withWriter("/src", "ftp://h/dst", [], writer);
  s.set("a", { size: 1, srcStamp: "1" });
  await assert.rejects(s.save(), /write 1 failed/);
  await s.save();
  assert.deepEqual(writer.writes, [["a:1"], ["a:1"]]);
});

test("an empty state is never saved", async () => {
  const s = SyncState.empty();
  s.set("a", { size: 1, srcStamp: "1" });
  s.saveSoon(0);
  await s.save();
  assert.equal(s.file, "");
});
