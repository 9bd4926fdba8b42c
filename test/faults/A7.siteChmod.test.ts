import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { chmod, mkdir, stat, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { startFerryServer, type RunningFerryServer } from "../helpers/ferryServer.js";
import { RawClient } from "../server/rawClient.js";

// Issue 12 failure #8: SITE CHMOD kept setuid/setgid/sticky and could chmod the user's root.
// Policy (as vsftpd): the mode is masked to 0777, special bits are dropped; the root is refused (550).
describe("A7 / issue 12 #8: SITE CHMOD sets permission bits only, never on the root", () => {
  let srv: RunningFerryServer;
  let client: RawClient;
  const modeOf = async (p: string): Promise<number> => (await stat(p)).mode & 0o7777;

  before(async () => {
    srv = await startFerryServer();
    await writeFile(join(srv.root, "x.sh"), "#!/bin/sh\n");
    await chmod(join(srv.root, "x.sh"), 0o644);
    await mkdir(join(srv.root, "d"));
    await chmod(join(srv.root, "d"), 0o755);
    await chmod(srv.root, 0o755);
    await symlink(".", join(srv.root, "selfie")); // a link inside the root that leads to the root
    client = await RawClient.login(srv.port);
  });
  after(async () => {
    client?.close();
    await srv?.close();
  });

  it("SITE CHMOD 6755 on a file leaves 0755: no setuid, no setgid", async () => {
    const r = await client.send("SITE CHMOD 6755 x.sh");
    assert.equal(r?.code, 200, r?.lines.join(" "));
    assert.equal(await modeOf(join(srv.root, "x.sh")), 0o755);
  });

  it("SITE CHMOD 1777 on a file and 2775 on a folder drop sticky and setgid", async () => {
    assert.equal((await client.send("SITE CHMOD 1777 x.sh"))?.code, 200);
    assert.equal(await modeOf(join(srv.root, "x.sh")), 0o777);
    assert.equal((await client.send("SITE CHMOD 2775 d"))?.code, 200);
    assert.equal(await modeOf(join(srv.root, "d")), 0o775);
  });

  it("plain modes still work", async () => {
    assert.equal((await client.send("SITE CHMOD 600 x.sh"))?.code, 200);
    assert.equal(await modeOf(join(srv.root, "x.sh")), 0o600);
  });

  for (const spelling of ["/", ".", "..", "/./", "d/..", "//", "selfie", "d/../selfie/"]) {
    it(`SITE CHMOD on the root (${JSON.stringify(spelling)}) is refused with 550 and the root keeps its mode`, async () => {
      const r = await client.send(`SITE CHMOD 1777 ${spelling}`);
      assert.equal(r?.code, 550, r?.lines.join(" "));
      assert.equal(await modeOf(srv.root), 0o755);
    });
  }
});
