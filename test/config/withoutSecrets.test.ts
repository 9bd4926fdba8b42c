import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError, daemonConfigSchema, parseConfigWithoutSecrets } from "../../src/config/index.js";

/** The rule `ferry status` uses: the database path and a job's folders are needed. */
const needed = (path: readonly PropertyKey[]) => path[0] === "database" || (path[0] === "jobs" && ["source", "target", "watch"].includes(String(path[2])));

const parse = (cfg: unknown) => parseConfigWithoutSecrets("f.json", JSON.stringify(cfg), daemonConfigSchema, {}, needed);

describe("parseConfigWithoutSecrets (ferry status without the daemon's environment)", () => {
  it("gives each unset secret a stand-in the schema accepts: URL, password, webhook, server password hash", () => {
    const { data, unset } = parse({
      remotes: { backup: { url: "${BACKUP_URL}", password: "${BACKUP_PASSWORD}" } },
      hooks: [{ on: ["job.dead"], webhook: { url: "${HOOK_URL}", secret: "${HOOK_SECRET}" } }],
      jobs: [{ name: "photos", kind: "mirror", source: "./p", target: "backup:/p", schedule: "* * * * *" }],
      server: { listen: "127.0.0.1:2121", root: "./ftp", users: [{ name: "edge", passwordHash: "${EDGE_HASH}" }] },
    });
    assert.deepEqual(unset, ["BACKUP_URL", "BACKUP_PASSWORD", "HOOK_URL", "HOOK_SECRET", "EDGE_HASH"]);
    assert.equal(data.jobs[0]!.name, "photos");
    assert.equal(data.remotes.backup!.url, "ftp://unset.invalid/");
    assert.equal(data.hooks[0]!.webhook!.url, "https://unset.invalid/");
  });

  it("an unset variable in a needed path, and any other problem, is still an error", () => {
    assert.throws(() => parse({ database: "${STATE}/ferry.db", jobs: [{ name: "o", kind: "upload", watch: "./o", target: "b:/in" }], remotes: { b: { url: "ftp://h/" } } }),
      (err: unknown) => err instanceof ConfigError && err.problems.length === 1 && /^database: environment variable STATE is not set/.test(err.problems[0]!));
    assert.throws(() => parse({ remotes: { b: { url: "ftp://h/", password: "${PW}" } }, jobs: [{ name: "o", kind: "upload", watch: "./o", target: "bakup:/in" }] }),
      (err: unknown) => err instanceof ConfigError && /jobs\[0\]\.target: unknown remote "bakup"/.test(err.message));
  });
});
