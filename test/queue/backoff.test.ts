import { test } from "node:test";
import assert from "node:assert/strict";
import { backoffDelay, DEFAULT_BACKOFF, type BackoffPolicy } from "../../src/queue/index.js";

const policy: BackoffPolicy = { baseMs: 1000, capMs: 60_000, jitter: 0.2 };

test("backoffDelay: min(cap, base*2^n) ± jitter", () => {
  const rows: { title: string; retry: number; rng: number; policy?: BackoffPolicy; expected: number }[] = [
    { title: "first retry, centre of band", retry: 0, rng: 0.5, expected: 1000 },
    { title: "second retry doubles", retry: 1, rng: 0.5, expected: 2000 },
    { title: "fifth retry", retry: 5, rng: 0.5, expected: 32_000 },
    { title: "capped", retry: 6, rng: 0.5, expected: 60_000 },
    { title: "huge retry count stays capped (2^2000 is Infinity)", retry: 2000, rng: 0.5, expected: 60_000 },
    { title: "low edge of jitter", retry: 0, rng: 0, expected: 800 },
    { title: "high edge of jitter", retry: 0, rng: 0.999999, expected: 1200 },
    { title: "jitter applies after the cap", retry: 10, rng: 0, expected: 48_000 },
    { title: "no jitter", retry: 3, rng: 0.9, policy: { baseMs: 100, capMs: 1000, jitter: 0 }, expected: 800 },
    { title: "zero base", retry: 3, rng: 0.9, policy: { baseMs: 0, capMs: 0, jitter: 0.5 }, expected: 0 },
    { title: "full jitter can reach zero", retry: 0, rng: 0, policy: { baseMs: 100, capMs: 100, jitter: 1 }, expected: 0 },
    { title: "defaults: 1 s first", retry: 0, rng: 0.5, policy: DEFAULT_BACKOFF, expected: 1000 },
    { title: "defaults: 5 min cap", retry: 30, rng: 0.5, policy: DEFAULT_BACKOFF, expected: 300_000 },
  ];
  for (const row of rows) {
    assert.equal(backoffDelay(row.retry, row.policy ?? policy, () => row.rng), row.expected, row.title);
  }
});

test("backoffDelay: bad input is refused with the field named", () => {
  const rows: { title: string; run: () => number; message: RegExp }[] = [
    { title: "negative retry", run: () => backoffDelay(-1, policy, () => 0.5), message: /retry must be an integer >= 0/ },
    { title: "fractional retry", run: () => backoffDelay(1.5, policy, () => 0.5), message: /retry must be an integer/ },
    { title: "rng out of range", run: () => backoffDelay(0, policy, () => 1), message: /rng\(\) must return a number in \[0, 1\)/ },
    { title: "rng NaN", run: () => backoffDelay(0, policy, () => NaN), message: /rng\(\)/ },
    { title: "negative base", run: () => backoffDelay(0, { ...policy, baseMs: -1 }, () => 0.5), message: /baseMs/ },
    { title: "cap below base", run: () => backoffDelay(0, { ...policy, capMs: 10 }, () => 0.5), message: /capMs must be finite and >= baseMs/ },
    { title: "jitter above 1", run: () => backoffDelay(0, { ...policy, jitter: 1.5 }, () => 0.5), message: /jitter must be in \[0, 1\]/ },
  ];
  for (const row of rows) assert.throws(row.run, row.message, row.title);
});
