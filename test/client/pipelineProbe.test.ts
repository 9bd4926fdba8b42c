import { test } from "node:test";
import assert from "node:assert/strict";
import { pino } from "pino";
import { FtpClient } from "../../src/client/index.js";
import { PipelineBrokenError } from "../../src/client/errors.js";
import { forgetPipelineVerdicts, pipelineVerdict } from "../../src/client/pipelineDecision.js";
import { startFakeFtpServer, type FakeServerOptions } from "../helpers/fakeFtpServer.js";

// The per-server pipelining decision (STYLE guideline 1): a probe of two commands in one
// write on the first connection that wants to pipeline, remembered for the server, and a
// lockstep verdict (logged once) for servers that mishandle queued commands.

async function setup(t: import("node:test").TestContext, options: FakeServerOptions) {
  forgetPipelineVerdicts();
  const server = await startFakeFtpServer(options);
  const warnings: { server?: string; why?: string; msg?: string }[] = [];
  const logger = pino({ level: "warn" }, { write: (line: string) => void warnings.push(JSON.parse(line) as { why?: string }) });
  const clients: FtpClient[] = [];
  const connect = async () => {
    const c = await FtpClient.connect({ host: "127.0.0.1", port: server.port, user: "u", password: "p", logger, commandTimeoutMs: 3000 });
    clients.push(c);
    return c;
  };
  t.after(async () => { for (const c of clients) c.close(); await server.close(); });
  return { server, connect, warnings, key: `127.0.0.1:${server.port}` };
}

test("probe: a server that answers queued commands in order pipelines; the next connection does not probe again", async (t) => {
  const s = await setup(t, {});
  const [a, b] = await Promise.all([s.connect(), s.connect()]);
  const [pa, pb] = await Promise.all([a.pipeline("a"), b.pipeline("b")]);
  assert.ok(pa && pb);
  pa.release();
  pb.release();
  assert.equal(pipelineVerdict(s.key), "pipeline");
  assert.equal(s.server.commands.filter((c) => c === "PWD").length, 1, "one probe for the server");
  assert.deepEqual(s.warnings, []);
});

const misbehaving: { title: string; options: FakeServerOptions; why: RegExp }[] = [
  { title: "reads one command per packet (drops what follows in the same read)", options: { perRead: "first" }, why: /no reply to NOOP within 1000 ms/ },
  { title: "answers out of order", options: {
    unordered: (verb) => verb === "NOOP",
    handlers: { PWD: (_a, s) => void setTimeout(() => s.reply(257, '"/" is the current directory'), 20) },
  }, why: /200 cannot answer PWD/ },
];

for (const row of misbehaving) {
  test(`probe: a server that ${row.title} is driven in lockstep, logged once, not probed again`, async (t) => {
    const s = await setup(t, row.options);
    const a = await s.connect();
    await assert.rejects(a.pipeline("a"), (err: Error) => err instanceof PipelineBrokenError && row.why.test(err.message));
    assert.equal(a.closed, true, "its replies can no longer be trusted: the connection is closed");
    assert.equal(pipelineVerdict(s.key), "lockstep");
    const b = await s.connect();
    assert.equal(await b.pipeline("b"), undefined, "lockstep: no pipeline");
    await b.noop(); // and the connection works in lockstep as before
    assert.equal(s.server.commands.filter((c) => c === "PWD").length, 1, "not probed again");
    const switched = s.warnings.filter((w) => w.msg?.includes("pipelining off"));
    assert.equal(switched.length, 1);
    assert.equal(switched[0]!.server, s.key);
    assert.match(switched[0]!.why!, row.why);
  });
}

test("probe: pipelining: false never probes", async (t) => {
  forgetPipelineVerdicts();
  const server = await startFakeFtpServer({});
  t.after(() => server.close());
  const c = await FtpClient.connect({ host: "127.0.0.1", port: server.port, user: "u", password: "p", pipelining: false });
  t.after(() => c.close());
  assert.equal(await c.pipeline("x"), undefined);
  assert.ok(!server.commands.includes("PWD"));
});
