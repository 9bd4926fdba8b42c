import { test } from "node:test";
import assert from "node:assert/strict";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { parseRate, throttle, TokenBucket } from "../../src/sync/bwlimit.js";

/** A fake clock: sleeping advances time instantly. */
function fakeClock() {
  const clock = { t: 0, now: () => clock.t, sleep: async (ms: number) => { clock.t += ms; } };
  return clock;
}

const rates: [string, number | undefined | RegExp][] = [
  ["2M", 2 * 1024 * 1024], ["512k", 512 * 1024], ["1.5MiB/s", 1.5 * 1024 * 1024], ["100000", 100000],
  ["1G", 1024 ** 3], ["10KB", 10240], ["0", undefined], ["off", undefined], ["fast", /bad bandwidth limit/], ["-1M", /bad/], ["0.0001", /at least 1 byte/],
];
for (const [input, expected] of rates) {
  test(`parseRate(${JSON.stringify(input)})`, () => {
    if (expected instanceof RegExp) assert.throws(() => parseRate(input), expected);
    else assert.equal(parseRate(input), expected);
  });
}

const buckets: { title: string; rate: number; burst: number; takes: number[]; elapsedMs: number }[] = [
  { title: "within the burst: no wait", rate: 1000, burst: 1000, takes: [500, 500], elapsedMs: 0 },
  { title: "beyond the burst waits for the rate", rate: 1000, burst: 1000, takes: [1000, 1000, 500], elapsedMs: 1500 },
  { title: "a take larger than the burst is paid in parts", rate: 100, burst: 100, takes: [450], elapsedMs: 3500 },
];
for (const row of buckets) {
  test(`TokenBucket: ${row.title}`, async () => {
    const clock = fakeClock();
    const bucket = new TokenBucket(row.rate, { burst: row.burst, now: clock.now, sleep: clock.sleep });
    for (const n of row.takes) await bucket.take(n);
    assert.equal(clock.t, row.elapsedMs);
  });
}

test("TokenBucket: parallel takers share one rate", async () => {
  const clock = fakeClock();
  const bucket = new TokenBucket(1000, { burst: 100, now: clock.now, sleep: clock.sleep });
  await Promise.all([0, 1, 2, 3].map(async () => { for (let i = 0; i < 10; i++) await bucket.take(50); }));
  // 2000 bytes at 1000 B/s after a 100-byte burst: 1.9 s of simulated time.
  assert.equal(clock.t, 1900);
});

test("throttle passes the bytes through unchanged", async () => {
  const clock = fakeClock();
  const bucket = new TokenBucket(1 << 20, { now: clock.now, sleep: clock.sleep });
  const input = Buffer.from("x".repeat(100_000));
  const out: Buffer[] = [];
  await pipeline(Readable.from([input.subarray(0, 30_000), input.subarray(30_000)]), throttle(bucket),
    new Writable({ write(c, _e, cb) { out.push(c); cb(); } }));
  assert.deepEqual(Buffer.concat(out), input);
});
