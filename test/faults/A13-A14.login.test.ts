import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { connect } from "node:net";
import { chmod, mkdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Authenticator, FtpServer, hashPassword } from "../../src/server/index.js";
import { startFerryServer, type RunningFerryServer } from "../helpers/ferryServer.js";
import { pseudoRandomBytes, tempDir } from "../helpers/tmp.js";
import { RawClient } from "../server/rawClient.js";
import { treeOf } from "../server/trees.js";
import { fdCount, waitFor } from "./faultHelpers.js";

// hardening.limits.test.ts ("commands before login get 530") covers LIST RETR CWD STOR PASV
// SIZE and PASS without USER by reply code; this adds the rest and the absence of effects.
describe("A13: commands before login", () => {
  let srv: RunningFerryServer;
  before(async () => {
    srv = await startFerryServer();
    await writeFile(join(srv.root, "f.txt"), "keep");
    await chmod(join(srv.root, "f.txt"), 0o644);
    await mkdir(join(srv.root, "d"));
  });
  after(async () => srv?.close());

  it("every file, data and SITE command gets 530 and changes nothing (tree, modes, times, no listener opened)", async () => {
    const { client } = await RawClient.connect(srv.port);
    try {
      const tree = await treeOf(srv.root);
      const st = await stat(join(srv.root, "f.txt"));
      const fds = fdCount();
      const lines = [
        "RETR f.txt", "STOR new.txt", "APPE f.txt", "STOU", "DELE f.txt", "RMD d", "MKD x", "XMKD y", "RNFR f.txt", "RNTO g.txt",
        "SITE CHMOD 777 f.txt", "SITE HELP", "MFMT 20000101000000 f.txt", "MDTM 20000101000000 f.txt", "MDTM f.txt", "SIZE f.txt",
        "LIST", "NLST", "MLSD", "MLST f.txt", "STAT /", "CWD d", "CDUP", "PWD", "PASV", "EPSV", "EPSV ALL", "PORT 127,0,0,1,200,1",
        "EPRT |1|127.0.0.1|51201|", "REST 5", "HASH f.txt", "XSHA256 f.txt", "ABOR", "TYPE I", "ALLO 10",
      ];
      for (const line of lines) assert.equal((await client.send(line))?.code, 530, line);
      assert.equal((await client.send("PASS x"))?.code, 503, "PASS without USER");
      assert.deepEqual(await treeOf(srv.root), tree);
      const after = await stat(join(srv.root, "f.txt"));
      assert.equal(after.mode, st.mode);
      assert.equal(after.mtimeMs, st.mtimeMs);
      assert.equal(fdCount(), fds, "no passive listener was opened");
      // Nothing was remembered either: after login, RNTO has no RNFR and RETR has no channel.
      assert.equal((await client.send("USER user"))?.code, 331);
      assert.equal((await client.send("PASS pass"))?.code, 230);
      assert.equal((await client.send("RNTO g.txt"))?.code, 503);
      assert.equal((await client.send("RETR f.txt"))?.code, 425);
      assert.equal((await client.send("PORT 127,0,0,1,200,1"))?.code, 200, "EPSV ALL before login was not recorded");
    } finally {
      client.close();
    }
  });

  it("REIN during a download: the transfer completes intact, then REIN gets 502 and the login stays", async () => {
    const payload = pseudoRandomBytes(4 << 20, 7);
    await writeFile(join(srv.root, "big.bin"), payload);
    const client = await RawClient.login(srv.port);
    try {
      const port = await client.pasv();
      const data = connect({ host: "127.0.0.1", port });
      data.on("error", () => undefined);
      const chunks: Buffer[] = [];
      data.on("data", (d: Buffer) => chunks.push(d));
      const closed = new Promise((r) => data.once("close", r));
      await once(data, "connect");
      client.write("RETR big.bin\r\nREIN\r\n");
      assert.ok([125, 150].includes((await client.next())?.code ?? 0));
      await closed;
      assert.equal((await client.next())?.code, 226);
      assert.equal((await client.next())?.code, 502);
      assert.ok(Buffer.concat(chunks).equals(payload), "the download is complete and intact");
      assert.equal((await client.send("PWD"))?.code, 257, "still logged in");
    } finally {
      client.close();
    }
  });
});

describe("A14: brute force and timing", () => {
  const DELAY = 250;
  let root: Awaited<ReturnType<typeof tempDir>>;
  let server: FtpServer;
  let port = 0;
  before(async () => {
    root = await tempDir("ferry-a14-");
    // An scrypt user: the slow hash, where timing differences between known and unknown users would show.
    const authenticator = await Authenticator.create({
      root: root.path, users: [{ name: "alice", passwordHash: await hashPassword("right") }, { name: "bob", password: "pw" }],
    });
    server = new FtpServer({ authenticator, port: 0, limits: { loginFailureDelayMs: DELAY, maxLoginFailures: 3 } });
    port = await server.listen();
  });
  after(async () => {
    await server?.close(0);
    await root?.remove();
  });

  async function failOnce(client: RawClient, user: string): Promise<{ code: number | undefined; ms: number }> {
    assert.equal((await client.send(`USER ${user}`))?.code, 331);
    const t0 = performance.now();
    const r = await client.send("PASS wrong");
    return { code: r?.code, ms: performance.now() - t0 };
  }

  it("10 wrong PASS: each failure waits the fixed delay, every session is dropped after 3", async () => {
    let failures = 0;
    let sessions = 0;
    while (failures < 10 && sessions < 10) {
      const { client } = await RawClient.connect(port);
      sessions++;
      try {
        for (let i = 1; i <= 3 && failures < 10; i++) {
          const { code, ms } = await failOnce(client, "alice");
          failures++;
          assert.ok(ms >= DELAY - 5, `failure answered after ${ms.toFixed(0)} ms`);
          assert.equal(code, i < 3 ? 530 : 421, `attempt ${i} of a session`);
        }
        if (failures % 3 === 0) await client.waitClosed();
      } finally {
        client.close();
      }
    }
    assert.equal(failures, 10);
    assert.equal(sessions, 4, "3 + 3 + 3 + 1");
  });

  it("the failure delay does not block other sessions (another session's NOOP latency)", async () => {
    const other = await RawClient.login(port, "bob", "pw");
    const { client } = await RawClient.connect(port);
    try {
      assert.equal((await client.send("USER alice"))?.code, 331);
      const failing = client.send("PASS wrong");
      const latencies: number[] = [];
      // NOOPs while the failed login waits out its delay.
      for (let i = 0; i < 5; i++) {
        const t0 = performance.now();
        assert.equal((await other.send("NOOP"))?.code, 200);
        latencies.push(performance.now() - t0);
      }
      assert.equal((await failing)?.code, 530);
      const worst = Math.max(...latencies);
      assert.ok(worst < DELAY / 2, `other session's NOOP took up to ${worst.toFixed(0)} ms during a ${DELAY} ms failure delay`);
    } finally {
      other.close();
      client.close();
    }
  });

  it("failed logins of a known and an unknown user take the same time, within noise", async () => {
    // Paired rounds (known and unknown back to back) so machine load hits both alike; the
    // median of 7 differences ignores a few rounds hit by a load spike.
    const diffs: number[] = [];
    const known: number[] = [];
    for (let round = 0; round < 7; round++) {
      const times: number[] = [];
      // Alternate which goes first, so an order effect cancels out.
      const order = round % 2 === 0 ? ["alice", "nosuchuser"] : ["nosuchuser", "alice"];
      for (const user of order) {
        const { client } = await RawClient.connect(port);
        try {
          const { code, ms } = await failOnce(client, user);
          assert.equal(code, 530);
          times.push(ms);
        } finally {
          client.close();
        }
      }
      const [k, u] = round % 2 === 0 ? [times[0]!, times[1]!] : [times[1]!, times[0]!];
      known.push(k);
      diffs.push(k - u);
    }
    const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    assert.ok(Math.abs(median(diffs)) < 40, `known - unknown: ${diffs.map((d) => d.toFixed(0)).join(", ")} ms`);
    assert.ok(median(known) >= DELAY - 5, "the delay is there");
  });
});
