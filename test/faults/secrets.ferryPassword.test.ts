/**
 * Issue 12, smaller item: FERRY_PASSWORD was sent as the anonymous password when the URL
 * named no user — a secret handed to whatever server the URL points at. It is used only for a
 * named user (in the URL, or the login of a ~/.netrc entry); anonymous logins send the usual
 * anonymous password. A fake server records every PASS.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { resolveRemote } from "../../src/cli/credentials.js";
import { startFakeFtpServer, sendData } from "../helpers/fakeFtpServer.js";
import { runFerry } from "../helpers/cli.js";
import { tempDir } from "../helpers/tmp.js";

const SECRET = "s3cret-from-env";

test("FERRY_PASSWORD goes only to a named user: never to anonymous, whatever the server", async (t) => {
  const tmp = await tempDir("ferry-secret-");
  const fake = await startFakeFtpServer({ handlers: { LIST: (_a, s) => sendData(s, "") } });
  t.after(async () => { await fake.close(); await tmp.remove(); });
  const env = { HOME: tmp.path, NETRC: join(tmp.path, "netrc"), FERRY_PASSWORD: SECRET, FERRY_STATE_DIR: join(tmp.path, "state") };
  const logins = async (url: string): Promise<string[]> => {
    const from = fake.commands.length;
    const r = await runFerry(["ls", url], { env });
    assert.equal(r.code, 0, r.stderr);
    return fake.commands.slice(from).filter((c) => /^(USER|PASS) /.test(c));
  };

  // No user anywhere: anonymous, with the anonymous password.
  assert.deepEqual(await logins(`ftp://127.0.0.1:${fake.port}/`), ["USER anonymous", "PASS anonymous@"]);
  // "anonymous" named in the URL is still anonymous.
  assert.deepEqual(await logins(`ftp://anonymous@127.0.0.1:${fake.port}/`), ["USER anonymous", "PASS anonymous@"]);
  // A user named in the URL gets FERRY_PASSWORD.
  assert.deepEqual(await logins(`ftp://bob@127.0.0.1:${fake.port}/`), ["USER bob", `PASS ${SECRET}`]);
  // A user named by ~/.netrc (login only) gets it too.
  await writeFile(join(tmp.path, "netrc"), "machine 127.0.0.1 login carol\n", { mode: 0o600 });
  assert.deepEqual(await logins(`ftp://127.0.0.1:${fake.port}/`), ["USER carol", `PASS ${SECRET}`]);
  assert.equal(fake.commands.filter((c) => c === `PASS ${SECRET}`).length, 2, "the secret went only to bob and carol");
});

test("resolveRemote: where the password comes from, per case", () => {
  const env = { HOME: "/nonexistent", NETRC: "/nonexistent/netrc", FERRY_PASSWORD: SECRET };
  const anon = resolveRemote("ftp://example.org/", env);
  assert.equal(anon.connect.password, undefined);
  assert.equal(anon.passwordSource, "none");
  const named = resolveRemote("ftp://bob@example.org/", env);
  assert.equal(named.connect.password, SECRET);
  assert.equal(named.passwordSource, "FERRY_PASSWORD");
  const inUrl = resolveRemote("ftp://bob:p@example.org/", env);
  assert.equal(inUrl.connect.password, "p");
  assert.equal(resolveRemote("ftp://ftp@example.org/", env).connect.password, undefined, "the user ftp is anonymous too");
});
