import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { startFerryServer, type RunningFerryServer } from "../helpers/ferryServer.js";
import { tempDir } from "../helpers/tmp.js";
import { RawClient } from "../server/rawClient.js";
import { snapshot, transfer } from "./serverOps.js";

// A7: every path-taking command with every traversal spelling stays inside the root or gets
// 550; the canary outside and the host's /etc/passwd are untouched, and nothing outside
// is ever sent. ("..\\..\\etc" and "%2e%2e/" are literal names on POSIX; "//etc" is /etc
// inside the root.) test/server/hardening.paths.test.ts covers symlinks and NUL/CR.
const PATTERNS = ["../../..", "/etc/passwd", "a/../../..", "..\\..\\etc", "%2e%2e/", "//etc", "./././../"];
const SECRET = "A7-CANARY-SECRET";
const OUTSIDE_NAME = "only-outside-the-root.txt";

type Kind = "download" | "upload" | "control";
const COMMANDS: Array<{ verb: string; kind: Kind }> = [
  { verb: "RETR", kind: "download" }, { verb: "LIST", kind: "download" }, { verb: "NLST", kind: "download" }, { verb: "MLSD", kind: "download" },
  { verb: "STOR", kind: "upload" }, { verb: "APPE", kind: "upload" }, { verb: "STOU", kind: "upload" },
  { verb: "DELE", kind: "control" }, { verb: "RMD", kind: "control" }, { verb: "MKD", kind: "control" }, { verb: "RNFR", kind: "control" },
  { verb: "SIZE", kind: "control" }, { verb: "MDTM", kind: "control" }, { verb: "MFMT 20000101000000", kind: "control" },
  { verb: "MLST", kind: "control" }, { verb: "STAT", kind: "control" }, { verb: "SITE CHMOD 755", kind: "control" },
  { verb: "CWD", kind: "control" }, { verb: "XCWD", kind: "control" },
];

describe("A7: traversal sweep", () => {
  let base: { path: string; remove: () => Promise<void> };
  let root: string;
  let outside: string;
  let srv: RunningFerryServer;
  let c: RawClient;
  let outsideBefore: Record<string, string>;
  let passwd: { sha: string; mtimeMs: number };

  const passwdNow = async (): Promise<{ sha: string; mtimeMs: number }> => ({
    sha: createHash("sha256").update(await readFile("/etc/passwd")).digest("hex"),
    mtimeMs: (await stat("/etc/passwd")).mtimeMs,
  });
  /** Nothing sent to the client may come from outside the root. */
  const assertNoLeak = (text: string, what: string): void => {
    assert.ok(!text.includes(SECRET) && !text.includes(OUTSIDE_NAME) && !/root:[^:\n]*:0:0:/.test(text), `${what} leaked something from outside the root`);
  };
  const assertOutsideUntouched = async (what: string): Promise<void> => {
    assert.deepEqual(await snapshot(outside), outsideBefore, `${what}: the outside changed`);
    assert.deepEqual((await readdir(base.path)).sort(), ["outside", "root"], `${what}: a new entry beside the root`);
    assert.deepEqual(await passwdNow(), passwd, `${what}: /etc/passwd changed`);
  };

  before(async () => {
    base = await tempDir("ferry-a7-");
    root = join(base.path, "root");
    outside = join(base.path, "outside");
    await mkdir(join(root, "a"), { recursive: true });
    await mkdir(outside);
    await writeFile(join(outside, OUTSIDE_NAME), SECRET);
    await writeFile(join(root, "inside.txt"), "inside");
    srv = await startFerryServer({ root });
    c = await RawClient.login(srv.port);
    outsideBefore = await snapshot(outside);
    passwd = await passwdNow();
  });
  after(async () => {
    c.close();
    await srv.close();
    await base.remove();
  });

  for (const { verb, kind } of COMMANDS) {
    it(`${verb} × ${PATTERNS.length} traversal spellings: inside the root or 550`, async () => {
      for (const p of PATTERNS) {
        const what = `${verb} ${p}`;
        if (kind === "control") {
          const r = await c.send(what);
          assert.ok(r && r.code < 500 || r?.code === 550, `${what}: ${r?.code} ${r?.lines.join(" ")}`);
          assertNoLeak(r?.lines.join("\n") ?? "", what);
          if (verb.endsWith("CWD") && r?.code === 250) {
            // Wherever it landed is inside: its listing and its parent's show only the root's names.
            assertNoLeak((await transfer(c, "LIST -a")).data.toString(), `${what} then LIST`);
            assert.equal((await c.send("CDUP"))?.code, 250);
            assertNoLeak((await transfer(c, "LIST -a")).data.toString(), `${what} then CDUP, LIST`);
            assert.equal((await c.send("CWD /"))?.code, 250);
          }
          if (verb === "RNFR" && r?.code === 350) {
            const to = await c.send("RNTO renamed-by-sweep");
            assert.ok(to?.code === 250 || to?.code === 550, `${what} then RNTO: ${to?.code}`);
          }
        } else {
          const r = await transfer(c, what, kind === "upload" ? Buffer.from("SWEEP-MARKER") : undefined);
          const code = r.final?.code;
          assert.ok(code === 226 || code === 550, `${what}: ${code} ${r.final?.lines.join(" ")}`);
          assertNoLeak(r.data.toString() + (r.final?.lines.join("\n") ?? ""), what);
        }
        await assertOutsideUntouched(what);
      }
    });
  }

  it("CDUP from the root stays at the root", async () => {
    for (let i = 0; i < 3; i++) assert.equal((await c.send("CDUP"))?.code, 250);
    assert.equal((await c.send("PWD"))?.lines[0], '"/" is the current directory');
  });

  it("RNFR inside + RNTO each traversal spelling: 550 or a rename that stays inside", async () => {
    for (const [i, p] of PATTERNS.entries()) {
      await writeFile(join(root, `move-${i}.txt`), `move ${i}`);
      assert.equal((await c.send(`RNFR move-${i}.txt`))?.code, 350);
      const r = await c.send(`RNTO ${p}`);
      assert.ok(r?.code === 250 || r?.code === 550, `RNTO ${p}: ${r?.code} ${r?.lines.join(" ")}`);
      await assertOutsideUntouched(`RNTO ${p}`);
    }
  });
});
