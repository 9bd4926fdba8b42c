// database: (a SQLite path or a postgres:// URL) and node: in the daemon config (issue 16).
import assert from "node:assert/strict";
import { hostname } from "node:os";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { ConfigError, daemonConfigSchema, parseConfig } from "../../src/config/index.js";
import { loadDaemonConfig, resolveDaemonConfig } from "../../src/daemon/index.js";
import { literalPasswordWarning } from "../../src/daemon/config.js";
import { tempDir } from "../helpers/tmp.js";

const BASE = `remotes: { backup: { url: "ftp://edge@files.example:21/base" } }\njobs:\n  - { name: o, kind: upload, watch: ./o, target: "backup:in" }\n`;
const resolve = (extra: string, env: NodeJS.ProcessEnv = {}) =>
  resolveDaemonConfig("/etc/ferry/f.yaml", parseConfig("/etc/ferry/f.yaml", `${extra}${BASE}`, daemonConfigSchema, env));
const problems = (extra: string): string => {
  try {
    resolve(extra);
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  return "";
};

describe("config database: and node:", () => {
  it("a SQLite path stays the default; the node is the host name and names the local files' place", () => {
    const cfg = resolve("");
    assert.equal(cfg.database, "/etc/ferry/var/ferry.db");
    assert.equal(cfg.localBase, "/etc/ferry/var/ferry.db");
    assert.equal(cfg.stateDir, "/etc/ferry/var/state");
    assert.equal(cfg.node, hostname());
    assert.deepEqual(cfg.warnings, []);
  });

  it("a postgres:// URL is kept as written (the password from ${VAR}); local files go under the config's var/", () => {
    const cfg = resolve("database: postgres://ferry:${DB_PW}@db.example:5432/ferry\nnode: edge-1\n", { DB_PW: "pw" });
    assert.equal(cfg.database, "postgres://ferry:pw@db.example:5432/ferry");
    assert.equal(cfg.node, "edge-1");
    assert.equal(cfg.localBase, "/etc/ferry/var/ferry-edge-1");
    assert.equal(cfg.stateDir, "/etc/ferry/var/state");
    assert.equal(resolve("database: postgresql://ferry@db/ferry\n").database, "postgresql://ferry@db/ferry");
  });

  it("refuses a URL without a host or a database, and a bad node name, each by its field", () => {
    assert.match(problems("database: postgres:///ferry\n"), /database: no host; expected postgres:\/\/user@host:5432\/ferry/);
    assert.match(problems("database: postgres://ferry@db.example\n"), /database: no database name/);
    assert.match(problems("node: \"\"\n"), /node: empty/);
    assert.match(problems("node: \"edge 1\"\n"), /node: no whitespace, control characters or ":"/);
    assert.match(problems("node: \"edge\\t1\"\n"), /node: no whitespace/);
    assert.match(problems("node: \"a:b\"\n"), /node: no whitespace, control characters or ":"/);
    assert.match(problems(`node: ${"n".repeat(64)}\n`), /node: longer than 63 characters/);
    assert.equal(resolve(`node: ${"n".repeat(63)}\n`).node, "n".repeat(63));
  });

  it("a password written in the URL in the file is warned about, naming ${VAR}; one from ${VAR} or none is not", async () => {
    assert.match(literalPasswordWarning("postgres://ferry:hunter2@db/ferry") ?? "", /holds a password written in the config file; write postgres:\/\/user:\$\{FERRY_DB_PASSWORD\}@host\/db/);
    assert.ok(literalPasswordWarning("postgres://db/ferry?password=hunter2"));
    assert.equal(literalPasswordWarning("postgres://ferry:${PW}@db/ferry"), undefined);
    assert.equal(literalPasswordWarning("postgres://ferry@db/ferry"), undefined);
    assert.equal(literalPasswordWarning("./var/ferry.db"), undefined);
    const dir = await tempDir("ferry-dbconf-");
    const file = join(dir.path, "ferry.yaml");
    await writeFile(file, `database: postgres://ferry:hunter2@db.example/ferry\n${BASE}`);
    const literal = await loadDaemonConfig(file, {});
    assert.equal(literal.warnings.length, 1);
    assert.ok(!literal.warnings[0]!.includes("hunter2"), "the warning never repeats the password");
    await writeFile(file, `database: postgres://ferry:\${PW}@db.example/ferry\n${BASE}`);
    assert.deepEqual((await loadDaemonConfig(file, { PW: "hunter2" })).warnings, []);
    await dir.remove();
  });
});
