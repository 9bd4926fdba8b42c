import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { startFerryServer, type RunningFerryServer } from "../helpers/ferryServer.js";
import { tempDir } from "../helpers/tmp.js";
import { RawClient, readData } from "./rawClient.js";
import { treeOf } from "./trees.js";

// Layout: base/root is the user's root; base/outside holds a secret no command may read,
// write, list or change. Symlinks inside the root lead out of it.
describe("hardening: paths never leave the root", () => {
  let base: { path: string; remove: () => Promise<void> };
  let srv: RunningFerryServer;
  let client: RawClient;
  let outsideBefore: Record<string, string>;
  const SECRET = "top-secret-contents";

  before(async () => {
    base = await tempDir();
    const root = join(base.path, "root");
    const outside = join(base.path, "outside");
    await mkdir(join(root, "inside"), { recursive: true });
    await mkdir(outside);
    await writeFile(join(outside, "secret.txt"), SECRET);
    await writeFile(join(root, "inside", "ok.txt"), "fine");
    await symlink(outside, join(root, "dirlink"));
    await symlink(join(outside, "secret.txt"), join(root, "filelink"));
    await symlink(join(outside, "created-through-link.txt"), join(root, "dangling"));
    await symlink("../outside/secret.txt", join(root, "relative-link"));
    await symlink("inside/ok.txt", join(root, "good-link"));
    srv = await startFerryServer({ root });
    client = await RawClient.login(srv.port);
    outsideBefore = await treeOf(outside);
  });
  after(async () => {
    client.close();
    await srv.close();
    await base.remove();
  });

  const cases: Array<{ title: string; lines: string[]; code: number }> = [
    { title: "RETR ../ climbing", lines: ["RETR ../outside/secret.txt"], code: 550 },
    { title: "RETR many ../", lines: ["RETR ../../../../../../etc/passwd"], code: 550 },
    { title: "RETR absolute host path", lines: [`RETR ${"/etc/passwd"}`], code: 550 },
    { title: "SIZE through a directory symlink", lines: ["SIZE dirlink/secret.txt"], code: 550 },
    { title: "RETR through a directory symlink", lines: ["RETR dirlink/secret.txt"], code: 550 },
    { title: "RETR a file symlink leading out", lines: ["RETR filelink"], code: 550 },
    { title: "RETR a relative symlink leading out", lines: ["RETR relative-link"], code: 550 },
    { title: "HASH through a symlink", lines: ["HASH filelink"], code: 550 },
    { title: "XMD5 through a symlink", lines: ["XMD5 dirlink/secret.txt"], code: 550 },
    { title: "MDTM through a symlink", lines: ["MDTM filelink"], code: 550 },
    { title: "CWD into a symlink leading out", lines: ["CWD dirlink"], code: 550 },
    { title: "CWD .. stays at /", lines: ["CWD ..", "PWD"], code: 257 },
    { title: "MLST through a symlink", lines: ["MLST dirlink/secret.txt"], code: 550 },
    { title: "STAT path through a symlink", lines: ["STAT dirlink"], code: 550 },
    { title: "STOR through a directory symlink", lines: ["PASV", "STOR dirlink/new.txt"], code: 550 },
    { title: "STOR onto a file symlink leading out", lines: ["PASV", "STOR filelink"], code: 550 },
    { title: "STOR onto a dangling symlink", lines: ["PASV", "STOR dangling"], code: 550 },
    { title: "APPE onto a file symlink leading out", lines: ["PASV", "APPE filelink"], code: 550 },
    { title: "MKD through a symlink", lines: ["MKD dirlink/newdir"], code: 550 },
    { title: "DELE through a symlink", lines: ["DELE dirlink/secret.txt"], code: 550 },
    { title: "RMD of the outside dir via ..", lines: ["RMD ../outside"], code: 550 },
    { title: "RNFR through a symlink", lines: ["RNFR dirlink/secret.txt"], code: 550 },
    { title: "RNTO into a symlinked dir", lines: ["RNFR inside/ok.txt", "RNTO dirlink/stolen.txt"], code: 550 },
    { title: "SITE CHMOD through a symlink", lines: ["SITE CHMOD 777 filelink"], code: 550 },
    { title: "MFMT through a symlink", lines: ["MFMT 20000101000000 filelink"], code: 550 },
    // A NUL or CR anywhere in an argument is a syntax error (501, A9/A10), before any path check.
    { title: "NUL in a name", lines: ["RETR inside/ok.txt\0.png"], code: 501 },
    { title: "NUL in MKD", lines: ["MKD a\0b"], code: 501 },
    { title: "CR inside a name", lines: ["MKD evil\rname"], code: 501 },
    { title: "CR inside a STOR name", lines: ["PASV", "STOR evil\rname"], code: 501 },
  ];

  for (const c of cases) {
    it(`${c.title} -> ${c.code}`, async () => {
      let last;
      for (const line of c.lines) last = await client.send(line);
      assert.equal(last?.code, c.code, `${c.lines.join(" / ")}: got ${last?.code} ${last?.lines.join(" ")}`);
      assert.ok(!last?.lines.join(" ").includes(SECRET));
      if (c.title.startsWith("CWD ..")) assert.equal(last?.lines[0], '"/" is the current directory');
      assert.deepEqual(await treeOf(join(base.path, "outside")), outsideBefore, "nothing outside the root changed");
      assert.deepEqual((await readdir(base.path)).sort(), ["outside", "root"]);
      await client.send("CWD /");
    });
  }

  it("a symlink inside the root works, and listings hide links that lead out", async () => {
    const port = await client.pasv();
    const data = readData(port);
    assert.match(String((await client.send("RETR good-link"))?.code), /^(125|150)$/);
    assert.equal((await data).toString(), "fine");
    assert.equal((await client.next())?.code, 226);
    const lport = await client.pasv();
    const listing = readData(lport);
    assert.match(String((await client.send("LIST -a"))?.code), /^(125|150)$/);
    const text = (await listing).toString();
    assert.equal((await client.next())?.code, 226);
    assert.match(text, / good-link\r\n/);
    assert.doesNotMatch(text, /dirlink|filelink|dangling|relative-link|secret/);
  });
});
