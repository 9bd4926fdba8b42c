import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect } from "node:net";
import { once } from "node:events";
import { Writable } from "node:stream";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pino } from "pino";
import { startFerryServer, type RunningFerryServer } from "../helpers/ferryServer.js";
import { pseudoRandomBytes } from "../helpers/tmp.js";
import { RawClient, readData } from "./rawClient.js";

/** A pino logger whose JSON lines are kept in `lines` (the server's log, captured). */
function captureLogger(): { logger: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const dest = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split("\n")) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: "debug" }, dest), lines };
}

async function waitFor<T>(what: string, fn: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  for (let waited = 0; waited < timeoutMs; waited += 20) {
    const v = fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe("hardening: one bad session harms no other", () => {
  let srv: RunningFerryServer;
  let log: ReturnType<typeof captureLogger>;
  const big = pseudoRandomBytes(8 << 20, 4);

  before(async () => {
    log = captureLogger();
    srv = await startFerryServer({ logger: log.logger });
    await writeFile(join(srv.root, "big.bin"), big);
  });
  after(async () => srv.close());

  it("garbage input gets 500s while a concurrent download completes", async () => {
    const good = await RawClient.login(srv.port);
    const port = await good.pasv();
    const download = readData(port);
    const started = good.send("RETR big.bin");
    const { client: bad } = await RawClient.connect(srv.port);
    bad.write(Buffer.from([0xff, 0xf4, 0xff, 0xf2, 0x00, 0x01, 0x0d, 0x0a]));
    bad.write("\x00\x00GARBAGE \xfe\xfe\r\n\r\n\r\nLIST\r\n");
    bad.write(Buffer.from(pseudoRandomBytes(3000, 99).map((b) => (b === 0x0a ? 0x20 : b))));
    bad.write("\r\n");
    const codes: number[] = [];
    for (let r = await bad.next(); r; r = await bad.next().catch(() => undefined)) {
      codes.push(r.code);
      if (codes.length >= 4) break;
    }
    assert.ok(codes.every((c) => c === 500 || c === 530), `garbage got ${codes.join(",")}`);
    assert.ok([125, 150].includes((await started)?.code ?? 0));
    assert.deepEqual(await download, big);
    assert.equal((await good.next())?.code, 226);
    bad.close();
    good.close();
  });

  it("a client vanishing mid-download leaves a concurrent download intact", async () => {
    const good = await RawClient.login(srv.port);
    const vanishing = await RawClient.login(srv.port);
    const gport = await good.pasv();
    const vport = await vanishing.pasv();
    const goodData = readData(gport);
    const vsock = connect({ host: "127.0.0.1", port: vport });
    await once(vsock, "connect");
    vanishing.write("RETR big.bin\r\n");
    await once(vsock, "data");
    vsock.resetAndDestroy();
    vanishing.close();
    assert.ok([125, 150].includes((await good.send("RETR big.bin"))?.code ?? 0));
    assert.deepEqual(await goodData, big);
    assert.equal((await good.next())?.code, 226);
    const aborted = await waitFor("the vanished RETR's log line", () =>
      log.lines.find((l) => l.event === "transfer" && l.verb === "RETR" && l.complete === false));
    assert.equal(aborted.status, "aborted");
    good.close();
  });

  it("a partial upload (client vanished) is logged as incomplete, never as complete", async () => {
    const client = await RawClient.login(srv.port);
    const port = await client.pasv();
    const data = connect({ host: "127.0.0.1", port });
    await once(data, "connect");
    const pre = await client.send("STOR partial.bin");
    assert.ok([125, 150].includes(pre?.code ?? 0));
    await new Promise<void>((resolve) => data.write(big.subarray(0, 200_000), () => resolve()));
    data.resetAndDestroy(); // the client process dies: RST on the data connection…
    client.close(); // …and the control connection goes with it
    const line = await waitFor("the STOR log line", () => log.lines.find((l) => l.event === "transfer" && l.verb === "STOR" && l.path === "/partial.bin"));
    assert.equal(line.complete, false);
    assert.equal(line.status, "aborted");
    assert.match(String(line.msg), /ABORTED/);
    assert.ok(!log.lines.some((l) => l.event === "transfer" && l.path === "/partial.bin" && l.complete === true));
  });

  it("a complete upload is logged as complete with its size", async () => {
    const client = await RawClient.login(srv.port);
    const port = await client.pasv();
    const data = connect({ host: "127.0.0.1", port });
    await once(data, "connect");
    assert.ok([125, 150].includes((await client.send("STOR whole.bin"))?.code ?? 0));
    data.end(big.subarray(0, 300_000));
    assert.equal((await client.next())?.code, 226);
    const line = await waitFor("the STOR log line", () => log.lines.find((l) => l.event === "transfer" && l.path === "/whole.bin"));
    assert.equal(line.complete, true);
    assert.equal(line.bytes, 300_000);
    assert.deepEqual(await readFile(join(srv.root, "whole.bin")), big.subarray(0, 300_000));
    client.close();
  });

  it("ABOR during a download replies 426 then 226, and the session goes on", async () => {
    const client = await RawClient.login(srv.port);
    const port = await client.pasv();
    const sock = connect({ host: "127.0.0.1", port });
    await once(sock, "connect");
    sock.pause(); // stall the transfer so it is still running when ABOR arrives
    assert.ok([125, 150].includes((await client.send("RETR big.bin"))?.code ?? 0));
    assert.equal((await client.send("ABOR"))?.code, 426);
    assert.equal((await client.next())?.code, 226);
    assert.equal((await client.send("NOOP"))?.code, 200);
    sock.destroy();
    client.close();
  });

  it("the login log never holds the password", () => {
    const text = JSON.stringify(log.lines);
    assert.ok(log.lines.some((l) => l.event === "login" && l.ok === true));
    assert.ok(!text.includes('"pass"') && !/PASS pass/.test(text));
  });
});
