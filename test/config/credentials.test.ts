import assert from "node:assert/strict";
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { it } from "node:test";
import { ConfigError, parseConfig, serveFileSchema } from "../../src/config/index.js";
import { lookupVariable } from "../../src/config/credentials.js";
import { tempDir } from "../helpers/tmp.js";

const HASH = "scrypt$16384$8$1$1GYEmvgiIWuE8CmTa6aZ/A==$Mz5XuBGjFuPSMzYC3Lcs/DaTnjLvIVVubgOhoR9bjv8=";
const config = `server: { root: /srv, users: [ { name: u, passwordHash: "\${FERRY_HASH}" } ] }\n`;

it("${VAR}: the environment first, else the file $CREDENTIALS_DIRECTORY/VAR (systemd LoadCredential=, compose secrets)", async (t) => {
  const dir = await tempDir();
  t.after(() => dir.remove());
  await writeFile(join(dir.path, "FERRY_HASH"), `${HASH}\n`); // as `echo … > file` writes it
  const fromFile = parseConfig("s.yaml", config, serveFileSchema, { CREDENTIALS_DIRECTORY: dir.path });
  assert.equal(fromFile.server.users[0]!.passwordHash, HASH, "one trailing newline dropped");
  const fromEnv = parseConfig("s.yaml", config, serveFileSchema, { CREDENTIALS_DIRECTORY: dir.path, FERRY_HASH: `${HASH.slice(0, -1)}x` });
  assert.equal(fromEnv.server.users[0]!.passwordHash, `${HASH.slice(0, -1)}x`, "the environment wins");
  assert.equal(lookupVariable({ CREDENTIALS_DIRECTORY: dir.path }, "NOT_THERE"), undefined);
  assert.equal(lookupVariable({}, "FERRY_HASH"), undefined, "no folder, no lookup");
});

it("${VAR}: a missing credential names the file looked for; an unreadable one names the error", async (t) => {
  const dir = await tempDir();
  t.after(() => dir.remove());
  assert.throws(() => parseConfig("s.yaml", config, serveFileSchema, { CREDENTIALS_DIRECTORY: dir.path }), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.match(err.message, new RegExp(`environment variable FERRY_HASH is not set and there is no credential file ${dir.path}/FERRY_HASH`));
    return true;
  });
  await mkdir(join(dir.path, "FERRY_HASH")); // a folder where the file should be
  await chmod(dir.path, 0o700);
  assert.throws(() => parseConfig("s.yaml", config, serveFileSchema, { CREDENTIALS_DIRECTORY: dir.path }), /cannot read the credential .*FERRY_HASH: EISDIR/);
});
