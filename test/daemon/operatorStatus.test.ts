import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runFerry } from "../helpers/cli.js";
import { tempDir } from "../helpers/tmp.js";
import { testConfig } from "./harness.js";

/** An environment without the variables these tests leave unset on purpose. */
function envWithout(...names: string[]): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const n of names) delete env[n];
  return env;
}

describe("operator basics without a daemon: status without secrets, a missing watch folder", () => {
  let dir: { path: string; remove: () => Promise<void> };
  const p = (...parts: string[]) => join(dir.path, ...parts);
  const config = (jobs: unknown[]) => testConfig({ dir: dir.path, url: "ftp://u:p@127.0.0.1:1/", jobs });

  before(async () => {
    dir = await tempDir("ferry-operator-status-");
    await mkdir(p("msrc"));
  });

  after(async () => {
    await dir?.remove();
  });

  it("status reads a config whose secrets are not set in this shell, and names them", async () => {
    await writeFile(p("secrets.json"), JSON.stringify({
      database: p("var", "ferry.db"),
      remotes: { srv: { url: "ftp://edge@${FERRY_T_UNSET_HOST}:21/", password: "${FERRY_T_UNSET_PW}" } },
      hooks: [{ on: ["job.dead"], webhook: { url: "${FERRY_T_UNSET_URL}", secret: "${FERRY_T_UNSET_SECRET}" } }],
      jobs: [{ name: "photos", kind: "mirror", source: "./msrc", target: "srv:/photos", schedule: "*/10 * * * *" }],
    }));
    const env = envWithout("FERRY_T_UNSET_HOST", "FERRY_T_UNSET_PW", "FERRY_T_UNSET_URL", "FERRY_T_UNSET_SECRET");
    const r = await runFerry(["status", "--config", p("secrets.json")], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /photos \(mirror\)/);
    assert.match(r.stdout, /not set in this shell, not needed for status: FERRY_T_UNSET_HOST, FERRY_T_UNSET_PW, FERRY_T_UNSET_URL, FERRY_T_UNSET_SECRET/);
    // The daemon itself still needs them.
    const d = await runFerry(["daemon", "--config", p("secrets.json")], { env });
    assert.equal(d.code, 2);
    assert.match(d.stderr, /remotes\.srv\.password: environment variable FERRY_T_UNSET_PW is not set/);
  });

  it("status still refuses an unset variable in a path it needs, naming it", async () => {
    await writeFile(p("nodb.json"), JSON.stringify({
      database: "${FERRY_T_UNSET_DIR}/ferry.db",
      remotes: { srv: { url: "ftp://edge@example.invalid/" } },
      jobs: [{ name: "photos", kind: "mirror", source: "./msrc", target: "srv:/photos", schedule: "*/10 * * * *" }],
    }));
    const r = await runFerry(["status", "--config", p("nodb.json")], { env: envWithout("FERRY_T_UNSET_DIR") });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /database: environment variable FERRY_T_UNSET_DIR is not set/);
  });

  it("a watch folder that does not exist stops the start with exit 2, naming it and the fix", async () => {
    await writeFile(p("typo.json"), config([{ name: "outbox", kind: "upload", watch: "./outbx", target: "srv:/in" }]));
    const r = await runFerry(["daemon", "--config", p("typo.json")]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`job outbox: watch folder ${p("outbx").replace(/[/.]/g, "\\$&")} does not exist; create it \\(mkdir -p `));
    assert.equal(existsSync(p("outbx")), false, "not created");
  });

});
