import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { cliSetup } from "./cliSetup.js";

const parse = (stdout: string) => JSON.parse(stdout) as Record<string, unknown>;

test("--json on get and put: one JSON result on stdout", async (t) => {
  const { ferry, base, server, tmp } = await cliSetup(t);
  const file = join(tmp.path, "a.bin");
  await writeFile(file, "hello json");
  const put = await ferry(["put", file, `${base}/a.bin`, "--json"]);
  assert.equal(put.code, 0, put.stderr);
  const p = parse(put.stdout);
  assert.equal(typeof p.elapsedMs, "number");
  assert.deepEqual({ ...p, elapsedMs: 0 }, {
    ok: true, command: "put", source: file, destination: `${base.replace(":pass@", ":****@")}/a.bin`, size: 10, bytes: 10, verified: "SHA-256",
    hash: { algorithm: "SHA-256", value: createHash("sha256").update("hello json").digest("hex") }, elapsedMs: 0,
  });
  assert.equal(await readFile(join(server.root, "a.bin"), "utf8"), "hello json");
  const get = await ferry(["get", `${base}/a.bin`, join(tmp.path, "b.bin"), "--json"]);
  assert.equal(get.code, 0, get.stderr);
  const g = parse(get.stdout);
  assert.equal(g.ok, true);
  assert.equal(g.command, "get");
  assert.equal(g.destination, join(tmp.path, "b.bin"));
  assert.equal(g.bytes, 10);
  assert.equal(g.replaced, false);
});

test("--json failures: ok false, the message, the error's class and the exit code, on every command that does work", async (t) => {
  const { ferry, base, tmp } = await cliSetup(t);
  const cases: { args: string[]; exitCode: number; errorClass: string; error: RegExp; extra?: Record<string, unknown> }[] = [
    { args: ["get", `${base}/nope.bin`, tmp.path, "--json"], exitCode: 1, errorClass: "CliError", error: /no such file on the server/ },
    { args: ["put", join(tmp.path, "missing"), `${base}/x`, "--json"], exitCode: 2, errorClass: "CliError", error: /no such file/ },
    { args: ["ls", "ftp://u:p@127.0.0.1:1/", "--json"], exitCode: 3, errorClass: "FtpUnreachableError", error: /ECONNREFUSED/, extra: { errno: "ECONNREFUSED" } },
    { args: ["ls", `${base}/nope`, "--json"], exitCode: 1, errorClass: "FtpReplyError", error: /550/, extra: { replyCode: 550 } },
    { args: ["mirror", tmp.path, "ftp://user:wrong@127.0.0.1:1/x", "--json"], exitCode: 3, errorClass: "FtpUnreachableError", error: /cannot connect/ },
    { args: ["status", "--config", join(tmp.path, "none.yaml"), "--json"], exitCode: 2, errorClass: "ConfigError", error: /cannot read the file/ },
    { args: ["get", "--bogus", `${base}/x`, "--json"], exitCode: 2, errorClass: "UsageError", error: /unknown option '--bogus'/ },
  ];
  for (const c of cases) {
    const r = await ferry(c.args);
    assert.equal(r.code, c.exitCode, `${c.args.join(" ")}: ${r.stderr}`);
    let doc: Record<string, unknown>;
    try { doc = parse(r.stdout); } catch { assert.fail(`${c.args.join(" ")}: stdout is not one JSON document: ${JSON.stringify(r.stdout)}`); }
    assert.equal(doc.ok, false, c.args.join(" "));
    assert.equal(doc.command, c.args[0]);
    assert.equal(doc.exitCode, c.exitCode);
    assert.equal(doc.errorClass, c.errorClass, `${c.args.join(" ")}: ${r.stdout}`);
    assert.match(String(doc.error), c.error);
    for (const [k, v] of Object.entries(c.extra ?? {})) assert.equal(doc[k], v, `${c.args.join(" ")}: ${k}`);
    assert.doesNotMatch(r.stdout, /:wrong@|:pass@/, "no password in the JSON");
    assert.ok(r.stderr.length > 0, "the message still goes to stderr for people");
  }
});
