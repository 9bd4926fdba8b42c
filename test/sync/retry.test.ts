import { test } from "node:test";
import assert from "node:assert/strict";
import { retryDelay, withRetry, type RetryPolicy } from "../../src/sync/retry.js";

const policy: RetryPolicy = { attempts: 4, baseMs: 100, capMs: 1000 };
const delays: { retry: number; random: number; ms: number }[] = [
  { retry: 1, random: 0, ms: 50 }, { retry: 1, random: 1, ms: 100 }, { retry: 2, random: 0.5, ms: 150 },
  { retry: 3, random: 1, ms: 400 }, { retry: 5, random: 1, ms: 1000 }, { retry: 30, random: 0, ms: 500 },
];
for (const d of delays) {
  test(`retryDelay(retry ${d.retry}, random ${d.random}) = ${d.ms}`, () => {
    assert.equal(retryDelay(d.retry, policy, () => d.random), d.ms);
  });
}

class Transient extends Error {}

test("withRetry retries retriable errors and passes the attempt number", async () => {
  const slept: number[] = [];
  const seen: number[] = [];
  const got = await withRetry(async (attempt) => {
    seen.push(attempt);
    if (attempt < 3) throw new Transient("426 cut");
    return "ok";
  }, { policy, isRetriable: (e) => e instanceof Transient, sleep: async (ms) => { slept.push(ms); }, random: () => 1 });
  assert.equal(got, "ok");
  assert.deepEqual(seen, [1, 2, 3]);
  assert.deepEqual(slept, [100, 200]);
});

test("withRetry does not retry a permanent error", async () => {
  let calls = 0;
  await assert.rejects(withRetry(async () => { calls++; throw new Error("550 no"); },
    { policy, isRetriable: () => false, sleep: async () => {} }), /550 no/);
  assert.equal(calls, 1);
});

test("withRetry gives up after the last attempt with the last error", async () => {
  let calls = 0;
  await assert.rejects(withRetry(async () => { calls++; throw new Transient(`try ${calls}`); },
    { policy, isRetriable: () => true, sleep: async () => {} }), /try 4/);
  assert.equal(calls, 4);
});
