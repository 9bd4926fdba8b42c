import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FtpReplyError } from "../../src/client/index.js";
import { LocalConditions, localFailureOf } from "../../src/daemon/localTrouble.js";
import { isLoginRefused } from "../../src/daemon/remotes.js";
import { createLogger } from "../../src/log/index.js";
import { LocalFileError } from "../../src/sync/localErrors.js";

const errno = (code: string, message = `${code}: boom`) => Object.assign(new Error(message), { code });

describe("localFailureOf", () => {
  it("passes a LocalFileError through and translates raw errno codes, also down the cause chain", () => {
    const typed = new LocalFileError("read-only", "/d/x", "EROFS", "destination is read-only: /d/x");
    assert.equal(localFailureOf(typed, "/elsewhere"), typed);
    const raw = localFailureOf(errno("ENOSPC"), "/d");
    assert.equal(raw?.condition, "disk-full");
    assert.equal(raw?.path, "/d");
    const nested = localFailureOf(new Error("mirror failed", { cause: new Error("file x", { cause: errno("EDQUOT") }) }), "/d");
    assert.equal(nested?.condition, "disk-full");
    assert.equal(localFailureOf(errno("EACCES"), "/d")?.condition, "permission");
  });

  it("never reads codes from text nor from a reply: only the typed cause counts", () => {
    const flat = new Error("2 operation(s) failed; first: big.bin: write /d/.big.bin.ferry-part (ENOSPC)");
    assert.equal(localFailureOf(flat, "/d"), undefined);
    const typed = new LocalFileError("disk-full", "/d/.big.bin.ferry-part", "ENOSPC", "destination full: /d/.big.bin.ferry-part (ENOSPC)");
    assert.equal(localFailureOf(new Error(flat.message, { cause: typed }), "/d"), typed);
    assert.equal(localFailureOf(new FtpReplyError(452, "Insufficient storage space (ENOSPC)", "STOR x"), "/d"), undefined);
    assert.equal(localFailureOf(errno("ECONNRESET"), "/d"), undefined);
  });
});

describe("LocalConditions", () => {
  it("waits grow per window (not per failing file), and a success clears the job", async () => {
    let now = 1_000_000;
    const changes: number[] = [];
    const lc = new LocalConditions({
      backoff: { baseMs: 60_000, capMs: 900_000, jitter: 0 }, spaceCheckMs: 0, logger: createLogger({ level: "silent" }),
      wake: () => undefined, onChange: (t) => changes.push(t.length), now: () => now, rng: () => 0.5,
    });
    const full = new LocalFileError("disk-full", "/nonexistent-ferry-test/d", "ENOSPC", "destination full: /d");
    assert.equal(await lc.record("pull", full), 60_000);
    now += 1000;
    assert.equal(await lc.record("pull", full), 59_000, "a second failure in the same window waits out that window");
    now += 60_000;
    assert.equal(await lc.record("pull", full), 120_000);
    now += 120_000;
    assert.equal(await lc.record("pull", full), 240_000);
    const [t] = lc.troubled();
    assert.equal(t?.job, "pull");
    assert.equal(t?.summary, "local disk full");
    assert.equal(t?.failures, 3);
    lc.clear("pull");
    assert.deepEqual(lc.troubled(), []);
    assert.equal(changes.at(-1), 0);
  });
});

describe("isLoginRefused", () => {
  it("530 and 430 anywhere in the chain; not 421 or a socket error", () => {
    assert.ok(isLoginRefused(new FtpReplyError(530, "Login incorrect.", "PASS ****")));
    assert.ok(isLoginRefused(new Error("connect", { cause: new FtpReplyError(430, "Invalid username or password") })));
    assert.ok(!isLoginRefused(new FtpReplyError(421, "Too many users")));
    assert.ok(!isLoginRefused(errno("ECONNREFUSED")));
  });
});
