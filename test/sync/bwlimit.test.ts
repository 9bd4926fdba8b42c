import { test } from "node:test";
import assert from "node:assert/strict";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { parseRate, throttle, TokenBucket } from "../../src/sync/bwlimit.js";
import { parseBandwidth } from "../../src/sync/bwschedule.js";

/**
 * A virtual clock: sleepers wake in time order, and time moves only when every pending
 * promise has settled, so parallel takers see one consistent timeline and no real time passes.
 */
function virtualClock(startMs = 0) {
  const sleepers: { at: number; wake: () => void }[] = [];
  const clock = {
    t: startMs,
    now: () => clock.t,
    sleep: (ms: number) => new Promise<void>((wake) => { sleepers.push({ at: clock.t + ms, wake }); }),
    /** Run `work` to its end, advancing time to the next sleeper whenever everything waits. */
    async run<T>(work: Promise<T>): Promise<T> {
      let done = false;
      const result = work.finally(() => { done = true; });
      for (let steps = 0; !done; steps++) {
        assert.ok(steps < 1_000_000, "virtual clock: the work never finished");
        for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
        if (done || sleepers.length === 0) continue;
        sleepers.sort((a, b) => a.at - b.at);
        const next = sleepers.shift()!;
        clock.t = Math.max(clock.t, next.at);
        next.wake();
      }
      return result;
    },
  };
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

/** Push `total` bytes in `chunk`-sized pieces through throttle(bucket); log (time, bytes so far) at each release. */
async function counted(clock: ReturnType<typeof virtualClock>, bucket: TokenBucket, total: number, chunk: number) {
  const log: { t: number; bytes: number }[] = [];
  let bytes = 0;
  const pieces = Array.from({ length: Math.ceil(total / chunk) }, (_, i) => Buffer.alloc(Math.min(chunk, total - i * chunk)));
  await clock.run(pipeline(Readable.from(pieces), throttle(bucket), new Writable({
    write(c: Buffer, _e, cb) { bytes += c.length; log.push({ t: clock.t, bytes }); cb(); },
  })));
  return log;
}

test("no burst: at every moment of the first seconds, bytes released ≤ rate × elapsed time", async () => {
  const clock = virtualClock(5000);
  const rate = 100 * 1024;
  const bucket = new TokenBucket(rate, { now: clock.now, wallClock: clock.now, sleep: clock.sleep });
  const log = await counted(clock, bucket, 350 * 1024, 16 * 1024);
  assert.equal(log.at(-1)!.bytes, 350 * 1024);
  for (const { t, bytes } of log) assert.ok(bytes <= (rate * (t - 5000)) / 1000 + 1, `${bytes} bytes by ${t - 5000} ms exceeds ${rate} B/s`);
  const firstSecond = log.filter((e) => e.t - 5000 <= 1000).at(-1)!;
  assert.ok(firstSecond.bytes <= rate && firstSecond.bytes >= rate - 16 * 1024, `first second moved ${firstSecond.bytes} bytes`);
  // The whole run takes its bytes' time at the rate (3.5 s), not less.
  assert.ok(clock.t - 5000 >= 3500 && clock.t - 5000 <= 3502, `took ${clock.t - 5000} ms`);
});

test("no burst after an idle spell: idle time is not saved up", async () => {
  const clock = virtualClock();
  const bucket = new TokenBucket(1000, { now: clock.now, wallClock: clock.now, sleep: clock.sleep });
  await clock.run(bucket.take(1000));
  assert.equal(clock.t, 1000);
  clock.t += 60_000; // a minute with nothing to send
  const log = await counted(clock, bucket, 3000, 100);
  for (const { t, bytes } of log) assert.ok(bytes <= t - 61_000 + 1e-6, `${bytes} bytes by ${t - 61_000} ms after the idle spell`);
});

test("timers that wake late do not slow a steady transfer below its limit", async () => {
  const clock = virtualClock();
  const late = (ms: number) => clock.sleep(ms + 2); // every wake-up 2 ms late
  const bucket = new TokenBucket(64 * 1024, { now: clock.now, wallClock: clock.now, sleep: late });
  const log = await counted(clock, bucket, 640 * 1024, 16 * 1024); // 40 chunks, 10 s at the rate
  assert.ok(clock.t <= 10_000 + 2, `took ${clock.t} ms`);
  for (const { t, bytes } of log) assert.ok(bytes <= (64 * 1024 * t) / 1000, `${bytes} bytes by ${t} ms: ahead of the rate`);
});

test("parallel takers share one rate, in turn", async () => {
  const clock = virtualClock();
  const bucket = new TokenBucket(1000, { now: clock.now, wallClock: clock.now, sleep: clock.sleep });
  await clock.run(Promise.all([0, 1, 2, 3].map(async () => { for (let i = 0; i < 10; i++) await bucket.take(50); })));
  assert.equal(clock.t, 2000); // 2000 bytes at 1000 B/s
});

test("within: a transfer obeys the tighter of its own limit and the shared one", async () => {
  const clock = virtualClock();
  const opts = { now: clock.now, wallClock: clock.now, sleep: clock.sleep };
  const global = new TokenBucket(1000, opts);
  const slowRemote = new TokenBucket(200, { ...opts, within: [global] });
  const fastRemote = new TokenBucket(10_000, { ...opts, within: [global] });
  // Alone, the slow remote's 200 B/s is the tighter: 1000 bytes take 5 s.
  await clock.run(slowRemote.take(1000));
  assert.equal(clock.t, 5000);
  // Alone, the fast remote is held to the global 1000 B/s.
  await clock.run(fastRemote.take(2000));
  assert.equal(clock.t, 7000);
  // Together they share the global 1000 B/s: 3000 bytes take 3 s, and the slow one still gets ≤ 200 B/s.
  let slowDoneAt = 0;
  await clock.run(Promise.all([
    (async () => { for (let i = 0; i < 4; i++) await slowRemote.take(100); slowDoneAt = clock.t; })(),
    (async () => { for (let i = 0; i < 26; i++) await fastRemote.take(100); })(),
  ]));
  assert.ok(slowDoneAt - 7000 >= 2000, `400 bytes at 200 B/s took ${slowDoneAt - 7000} ms`);
  assert.ok(clock.t - 7000 >= 3000, `3000 bytes under a 1000 B/s global limit took ${clock.t - 7000} ms`);
});

test("a timetable's rate changes at its boundary for a transfer already running", async () => {
  // Local 07:59:00 today: 60 s at 1k/s, then "08:00,10k" for the rest, then off at 08:01.
  const day = new Date();
  day.setHours(7, 59, 0, 0);
  const clock = virtualClock(day.getTime());
  const schedule = parseBandwidth("07:00,1k 08:00,10k 08:01,off")!;
  const bucket = new TokenBucket(schedule, { now: clock.now, wallClock: clock.now, sleep: clock.sleep });
  const log = await counted(clock, bucket, 1024 * (60 + 600) + 5 * 1024 * 1024, 1024);
  const when = (bytes: number) => log.find((e) => e.bytes === bytes)!.t - day.getTime();
  assert.equal(when(1024), 1000); // 1k/s up to 08:00
  assert.equal(when(60 * 1024), 60_000);
  assert.equal(when(61 * 1024), 60_100); // 10k/s from 08:00
  assert.equal(when(660 * 1024), 120_000);
  assert.equal(log.at(-1)!.t - day.getTime(), 120_000); // off from 08:01: the rest passes at once
});

test("throttle passes the bytes through unchanged", async () => {
  const clock = virtualClock();
  const bucket = new TokenBucket(1 << 20, { now: clock.now, wallClock: clock.now, sleep: clock.sleep });
  const input = Buffer.from("x".repeat(100_000));
  const out: Buffer[] = [];
  await clock.run(pipeline(Readable.from([input.subarray(0, 30_000), input.subarray(30_000)]), throttle(bucket),
    new Writable({ write(c, _e, cb) { out.push(c); cb(); } })));
  assert.deepEqual(Buffer.concat(out), input);
});
