import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { ConfigError, loadConfigFile, parseConfig, serveFileSchema } from "../../src/config/index.js";
import { verifyPassword } from "../../src/server/index.js";
import { REPO_ROOT } from "../helpers/cli.js";
import { undocumentedVariables, usedVariables } from "../helpers/configVars.js";

const HASH = "scrypt$16384$8$1$1GYEmvgiIWuE8CmTa6aZ/A==$Mz5XuBGjFuPSMzYC3Lcs/DaTnjLvIVVubgOhoR9bjv8=";

function problems(fn: () => unknown): readonly string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  assert.fail("expected a ConfigError");
}

describe("config loader", () => {
  it("the example serve config is valid and its demo hash verifies", async () => {
    const cfg = await loadConfigFile(join(REPO_ROOT, "config", "serve.example.yaml"), serveFileSchema, { FERRY_READER_HASH: HASH });
    assert.equal(cfg.server.listen, "127.0.0.1:2121");
    assert.equal(cfg.server.users.length, 2);
    assert.equal(cfg.server.users[1]?.passwordHash, HASH);
    assert.equal(await verifyPassword("demo", cfg.server.users[0]!.passwordHash), true);
  });

  it("every ${VAR} the serve examples use is documented (in the file's comments or the README)", async () => {
    assert.deepEqual(usedVariables(await readFile(join(REPO_ROOT, "config", "serve.example.yaml"), "utf8")), ["FERRY_READER_HASH"]);
    for (const name of ["serve.example.yaml", "docker.yaml"]) assert.deepEqual(await undocumentedVariables(name), [], name);
  });

  const rows: Array<{ title: string; file: string; text: string; env?: Record<string, string>; expected: string[] }> = [
    { title: "unset variable named with its path", file: "a.yaml", text: "server:\n  root: /x\n  users:\n    - { name: u, passwordHash: \"${NOPE}\" }\n",
      expected: ["server.users[0].passwordHash: environment variable NOPE is not set (export NOPE=… or write the value in the file)"] },
    { title: "every zod issue listed", file: "a.yaml", text: "server:\n  root: ''\n  listen: nope\n  anonymous: maybe\n  users: [{ name: 'a b', passwordHash: plain }]\n  extra: 1\n",
      expected: [
        "server.listen: expected host:port, e.g. 127.0.0.1:2121 or [::1]:2121",
        "server.root: Too small: expected string to have >=1 characters",
        "server.users[0].name: a user name has no spaces or colons",
        "server.users[0].passwordHash: must be an scrypt hash: create one with `ferry hash-password`",
      ] },
    { title: "JSON by content", file: "cfg", text: '{"server": {"root": "/x", "pasv": {"ports": "10-20"}}}',
      expected: ["server.pasv.ports: expected LO-HI within 1024-65535, e.g. 50000-50100"] },
    { title: "a user requiring TLS without server.tls", file: "a.yaml",
      text: `server:\n  root: /x\n  users:\n    - { name: u, passwordHash: "${HASH}", requireTlsLogin: true }\n`,
      expected: ['server.users[0]: user "u" requires TLS but server.tls is not set'] },
    { title: "tls section checked", file: "a.yaml", text: "server:\n  root: /x\n  anonymous: ro\n  tls: { cert: c.pem, implicitPort: 99999, requireSessionReuse: maybe }\n",
      expected: ["server.tls.key: ", "server.tls.implicitPort: ", "server.tls.requireSessionReuse: "] },
    { title: "bad YAML", file: "a.yml", text: "server: [\n", expected: ["not valid YAML"] },
    { title: "bad JSON", file: "a.json", text: "{", expected: ["not valid JSON"] },
  ];
  for (const r of rows) {
    it(r.title, () => {
      const got = problems(() => parseConfig(r.file, r.text, serveFileSchema, r.env ?? {}));
      for (const e of r.expected) assert.ok(got.some((g) => g.startsWith(e)), `missing ${JSON.stringify(e)} in ${JSON.stringify(got)}`);
    });
  }

  it("interpolates variables inside strings, and $${X} is a literal", () => {
    const schema = z.object({ a: z.string(), b: z.array(z.string()) });
    const v = parseConfig("x.yaml", "a: pre-${A}-post\nb: ['$${A}', '${A}']\n", schema, { A: "va'l\"ue" });
    assert.deepEqual(v, { a: "pre-va'l\"ue-post", b: ["${A}", "va'l\"ue"] });
  });

  it("a missing file is a ConfigError naming the file", async () => {
    await assert.rejects(loadConfigFile("/nonexistent/ferry.yaml", serveFileSchema), (e: unknown) =>
      e instanceof ConfigError && e.message.startsWith("/nonexistent/ferry.yaml: invalid config") && /ENOENT/.test(e.message));
  });
});
