import assert from "node:assert/strict";
import { connect, createServer, type Socket } from "node:net";
import { test } from "node:test";
import { pino } from "pino";
import { FtpConnectionError, FtpReplyError, isRetriable } from "../../src/client/index.js";
import { retryDelay, DEFAULT_RETRY, isUnreachable, withRetry, type OutageClock, type RetryPolicy } from "../../src/sync/retry.js";
import { runFerry } from "../helpers/cli.js";
import { startFerryServer } from "../helpers/ferryServer.js";

// FAULTS.md C6, start-up failures: connection refused, an unresolvable host, 530 (bad
// credentials) and 421 (too many users). The CLI ends each with exit 3 and a message that
// names the cause, after one try (a wrong password is never hammered). The classification
// behind the retries: refused/unresolvable/421 transient, 530 permanent; the backoff is capped
// and jittered, and an unreachable server costs a run its patience once, not once per file.

/** A loopback port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

test("C6 CLI: refused, unresolvable, 530 and 421 each end ferry get and ferry ls with exit 3 and the cause, after one try", { timeout: 60_000 }, async (t) => {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: "info" }, { write: (s: string) => { lines.push(JSON.parse(s) as Record<string, unknown>); } });
  const server = await startFerryServer({ logger, limits: { loginFailureDelayMs: 0 } });
  // A second server that is full: one session holds its only slot.
  const full = await startFerryServer({ limits: { maxConnections: 1 } });
  const holder: Socket = connect(full.port, "127.0.0.1");
  holder.on("error", () => {});
  await new Promise<void>((r) => holder.once("data", () => r())); // its greeting: the slot is taken
  t.after(async () => {
    holder.destroy();
    await full.close();
    await server.close();
  });
  const refused = await closedPort();
  const cases: { name: string; url: string; message: RegExp }[] = [
    { name: "refused", url: `ftp://user:pass@127.0.0.1:${refused}/f.txt`, message: /cannot connect to ftp:\/\/user:\*\*\*\*@127\.0\.0\.1:\d+\/(f\.txt)?: .*ECONNREFUSED/ },
    { name: "unresolvable", url: "ftp://user:pass@no-such-host.invalid/f.txt", message: /cannot connect to ftp:\/\/user:\*\*\*\*@no-such-host\.invalid\/(f\.txt)?: .*(ENOTFOUND|EAI_AGAIN)/ },
    { name: "530", url: `ftp://user:wrongsecret@127.0.0.1:${server.port}/f.txt`, message: /login to ftp:\/\/user:\*\*\*\*@127\.0\.0\.1:\d+\/(f\.txt)? refused \(.*530.*\): check the user and the password \(from url\)/ },
    { name: "421", url: `ftp://user:pass@127.0.0.1:${full.port}/f.txt`, message: /cannot connect to .*421 Too many connections \(limit 1\), try later/ },
  ];
  // get for every case; ls (the same openRemote) for two, to keep the CLI start-ups few.
  const runs = cases.flatMap((c) => [["get", c.url], ...(c.name === "530" || c.name === "421" ? [["ls", c.url.replace(/f\.txt$/, "")]] : [])].map(async ([cmd, url]) => {
    const r = await runFerry([cmd!, url!], { timeoutMs: 45_000, env: { FERRY_LOG_LEVEL: "warn", HOME: "/nonexistent" } });
    return { c, cmd, r };
  }));
  for (const { c, cmd, r } of await Promise.all(runs)) {
    assert.equal(r.code, 3, `${cmd} ${c.name}: exit ${r.code}\n${r.stderr}`);
    assert.match(r.stderr, c.message, `${cmd} ${c.name}`);
    assert.doesNotMatch(r.stderr + r.stdout, /wrongsecret/);
    assert.equal(r.stderr.trim().split("\n").length, 1, `${cmd} ${c.name}: one line, no stack trace:\n${r.stderr}`);
  }
  // 530 is surfaced once: one failed login per command, never a retry loop.
  const failedLogins = lines.filter((l) => l.event === "login" && l.ok === false);
  assert.equal(failedLogins.length, 2, JSON.stringify(failedLogins));
});

test("C6 classification: refused, unresolvable and 421 are transient; 530 is permanent", () => {
  const refused = new FtpConnectionError("control connection to h:21: connect ECONNREFUSED", { cause: Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }) });
  const noDns = new FtpConnectionError("control connection to x.invalid:21: getaddrinfo ENOTFOUND x.invalid", { cause: Object.assign(new Error("getaddrinfo ENOTFOUND"), { code: "ENOTFOUND" }) });
  assert.equal(isRetriable(refused), true);
  assert.equal(isRetriable(noDns), true);
  assert.equal(isRetriable(new FtpReplyError(421, "Too many connections")), true);
  assert.equal(isRetriable(new FtpReplyError(530, "Login incorrect")), false);
  assert.equal(isUnreachable(refused), true);
  assert.equal(isUnreachable(noDns), true);
  assert.equal(isUnreachable(new FtpReplyError(530, "Login incorrect")), false);
});

test("C6 backoff: exponential, capped, and jittered (parallel retries do not come back together)", () => {
  const policy: RetryPolicy = { attempts: 20, baseMs: 250, capMs: 10_000 };
  let previousMax = 0;
  for (let retry = 1; retry <= 20; retry++) {
    const high = retryDelay(retry, policy, () => 1);
    const low = retryDelay(retry, policy, () => 0);
    assert.ok(high <= policy.capMs, `retry ${retry}: ${high} over the cap`);
    assert.ok(high >= previousMax, "never shorter than the one before (before jitter)");
    assert.equal(low, Math.round(high / 2), "jitter spreads each delay over its upper half");
    previousMax = high;
  }
  assert.equal(retryDelay(20, policy, () => 1), policy.capMs);
  const spread = new Set(Array.from({ length: 50 }, () => retryDelay(5, DEFAULT_RETRY)));
  assert.ok(spread.size > 10, `${spread.size} distinct delays for 50 retries at the same step`);
});

test("C6/C4 outage clock: an unreachable server costs no attempts while the run's patience lasts, and only once per run", async () => {
  const refused = (): Error => Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
  let now = 0;
  const slept: number[] = [];
  const sleep = async (ms: number): Promise<void> => { slept.push(ms); now += ms; };
  const clock = { now: () => now, sleep, isRetriable: () => true };
  const outage: OutageClock = { patienceMs: 5000 };
  const policy: RetryPolicy = { attempts: 3, baseMs: 100, capMs: 1000, outage };
  // Down for 4 s, then back: 3 attempts would have failed; the clock lets it through.
  let calls = 0;
  const got = await withRetry(async () => {
    calls++;
    if (now < 4000) throw refused();
    return "ok";
  }, { ...clock, policy, random: () => 1 });
  assert.equal(got, "ok");
  assert.ok(calls > 3, `${calls} calls`);
  assert.ok(slept.every((ms) => ms <= 1000), "each wait capped");
  assert.equal(outage.downSince, undefined, "a success ends the outage");
  // Down for good: the first file uses up the patience, the next one only its own attempts.
  now = 10_000;
  let first = 0;
  await assert.rejects(withRetry(async () => { first++; throw refused(); }, { ...clock, policy, random: () => 1 }), /ECONNREFUSED/);
  assert.ok(now - 10_000 >= 5000, "the first file waited out the patience");
  let second = 0;
  await assert.rejects(withRetry(async () => { second++; throw refused(); }, { ...clock, policy, random: () => 1 }), /ECONNREFUSED/);
  assert.equal(second, 3, "the patience is spent: 3 attempts, as without an outage clock");
  // Other failures always count.
  let other = 0;
  await assert.rejects(withRetry(async () => { other++; throw new Error("426 cut"); }, { ...clock, policy }), /426/);
  assert.equal(other, 3);
});
