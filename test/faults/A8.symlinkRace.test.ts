import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdir, readdir, readFile, stat, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { startFerryServer, type RunningFerryServer } from "../helpers/ferryServer.js";
import { tempDir } from "../helpers/tmp.js";
import { RawClient } from "../server/rawClient.js";
import { snapshot, transfer } from "./serverOps.js";

// A8: symlinks that lead out of the root are refused (550), and a local process that swaps a
// folder for a symlink while RETR/STOR run never gets a byte of the outside served or a file
// created outside. Layout: base/root is the user's root, base/outside holds the canary.
const CANARY = "CANARY-OUTSIDE-THE-ROOT-".repeat(8);

/**
 * The racer: a child process swapping root/dir (a real folder) and a symlink to the outside
 * folder under the same name, as fast as it can, until SIGTERM or its own bounds. Between
 * batches it yields so the signal lands; it always ends with the real folder back in place.
 */
const RACER = `
const { renameSync } = require("node:fs");
const [dir, real, link] = process.argv.slice(1);
let stop = false, swaps = 0;
process.on("SIGTERM", () => { stop = true; });
const deadline = Date.now() + 20000;
function batch() {
  for (let i = 0; i < 200; i++) {
    renameSync(dir, real); renameSync(link, dir);   // dir -> outside
    renameSync(dir, link); renameSync(real, dir);   // dir is the real folder again
    swaps++;
  }
  if (stop || Date.now() > deadline || swaps > 2000000) { process.stdout.write(String(swaps)); process.exit(0); }
  setImmediate(batch);
}
process.stdout.write("ready\\n");
batch();
`;

describe("A8: symlink escape and the check-then-use race", () => {
  let base: { path: string; remove: () => Promise<void> };
  let root: string;
  let outside: string;
  let srv: RunningFerryServer;
  let outsideBefore: Record<string, string>;
  let canaryMtime: number;

  before(async () => {
    base = await tempDir("ferry-a8-");
    root = join(base.path, "root");
    outside = join(base.path, "outside");
    await mkdir(join(root, "dir"), { recursive: true });
    await mkdir(outside);
    await writeFile(join(outside, "file"), CANARY);
    await writeFile(join(root, "dir", "file"), "inside contents");
    // Same names inside and outside: a DELE, MFMT, SITE CHMOD or RNFR that escapes hits the outside one.
    for (const name of ["victim", "stamp", "movable"]) {
      await writeFile(join(outside, name), CANARY);
      await writeFile(join(root, "dir", name), "inside");
    }
    await symlink(outside, join(root, "link")); // like link -> /etc
    await symlink(join(outside, "file"), join(root, "f")); // like f -> /etc/passwd
    await symlink(outside, join(root, ".racer-link"));
    srv = await startFerryServer({ root });
    outsideBefore = await snapshot(outside);
    canaryMtime = (await stat(join(outside, "file"))).mtimeMs;
  });
  after(async () => {
    await srv.close();
    await base.remove();
  });

  const assertOutsideUntouched = async (): Promise<void> => {
    assert.deepEqual(await snapshot(outside), outsideBefore, "nothing outside the root was created or changed");
    assert.equal((await stat(join(outside, "file"))).mtimeMs, canaryMtime);
  };

  it("static links that lead out of the root: 550 for every use, the outside untouched", async () => {
    const c = await RawClient.login(srv.port);
    try {
      for (const line of ["RETR link/file", "RETR f", "STOR link/new", "STOR f", "APPE f", "APPE link/new", "STOU link/x"]) {
        const r = await transfer(c, line, Buffer.from("written through a link"));
        assert.equal(r.final?.code, 550, `${line}: ${r.final?.code} ${r.final?.lines.join(" ")}`);
        assert.equal(r.data.length, 0);
      }
      for (const line of ["SIZE f", "MDTM f", "MKD link/d", "DELE link/file", "RNFR link/file", "MFMT 20000101000000 f", "CWD link"]) {
        const r = await c.send(line);
        assert.equal(r?.code, 550, `${line}: ${r?.code} ${r?.lines.join(" ")}`);
      }
    } finally {
      c.close();
    }
    await assertOutsideUntouched();
  });

  it("inside the root the verified operations still work: SITE CHMOD, MFMT, MKD, RNFR/RNTO, DELE, RMD, a link inside", async () => {
    await mkdir(join(root, "ops"));
    await writeFile(join(root, "ops", "a.txt"), "a");
    await symlink(join(root, "ops", "a.txt"), join(root, "ops", "alias"));
    const c = await RawClient.login(srv.port);
    try {
      assert.equal((await c.send("SITE CHMOD 640 ops/a.txt"))?.code, 200);
      assert.equal((await stat(join(root, "ops", "a.txt"))).mode & 0o777, 0o640);
      assert.equal((await c.send("MFMT 20000102030405 ops/a.txt"))?.code, 213);
      assert.equal((await stat(join(root, "ops", "a.txt"))).mtime.toISOString(), "2000-01-02T03:04:05.000Z");
      assert.equal((await c.send("MKD ops/sub"))?.code, 257);
      assert.equal((await c.send("RNFR ops/a.txt"))?.code, 350);
      assert.equal((await c.send("RNTO ops/sub/b.txt"))?.code, 250);
      assert.equal((await transfer(c, "STOR ops/alias", Buffer.from("via a link inside"))).final?.code, 550, "the alias now dangles");
      assert.equal((await transfer(c, "RETR ops/sub/b.txt")).data.toString(), "a");
      await symlink(join(root, "ops", "sub", "b.txt"), join(root, "ops", "alias2"));
      assert.equal((await transfer(c, "STOR ops/alias2", Buffer.from("through the link"))).final?.code, 226);
      assert.equal(await readFile(join(root, "ops", "sub", "b.txt"), "utf8"), "through the link", "a link inside the root is written through, as before");
      assert.equal((await c.send("DELE ops/sub/b.txt"))?.code, 250);
      assert.equal((await c.send("RMD ops/sub"))?.code, 250);
      assert.deepEqual((await readdir(join(root, "ops"))).sort(), ["alias", "alias2"]);
    } finally {
      c.close();
    }
  });

  it("a racer swapping dir <-> dir -> outside wins no RETR, STOR, DELE, MKD, MFMT, SITE CHMOD or rename", { timeout: 60_000 }, async () => {
    const racer: ChildProcess = spawn(process.execPath, ["-e", RACER, join(root, "dir"), join(root, ".racer-real"), join(root, ".racer-link")], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    racer.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    const exited = once(racer, "exit");
    try {
      const [first] = (await once(racer.stdout!, "data")) as [Buffer];
      assert.match(first.toString(), /ready/);
      const CLIENTS = 4;
      const ROUNDS = 50; // per client: a RETR, a STOR, DELE, MKD, MFMT and a rename each round
      let served = 0;
      let stored = 0;
      const leaks: string[] = [];
      await Promise.all(Array.from({ length: CLIENTS }, async (_, k) => {
        const c = await RawClient.login(srv.port);
        try {
          for (let i = 0; i < ROUNDS; i++) {
            const r = await transfer(c, "RETR dir/file");
            if (r.data.toString().includes("CANARY")) leaks.push(`RETR ${k}/${i}: ${r.final?.code}`);
            if (r.final?.code === 226) served++;
            const w = await transfer(c, `STOR dir/up-${k}-${i}`, Buffer.from(`upload ${k}/${i}`));
            if (w.final?.code === 226) stored++;
            // Entry operations through the swapped folder: none may reach the outside.
            await c.send("DELE dir/victim");
            await c.send(`MKD dir/mk-${k}-${i}`);
            await c.send("MFMT 20000101000000 dir/stamp");
            await c.send("SITE CHMOD 600 dir/stamp");
            if ((await c.send("RNFR dir/movable"))?.code === 350) await c.send(`RNTO moved-${k}-${i}`);
          }
        } finally {
          c.close();
        }
      }));
      racer.kill("SIGTERM");
      await exited;
      assert.ok(Number(out.replace("ready", "")) > 0, "the racer swapped the folder");
      assert.deepEqual(leaks, [], `the outside canary was served ${leaks.length} times`);
      await assertOutsideUntouched();
      // Every upload that was acknowledged is inside the root.
      const inside = (await readdir(join(root, "dir"))).filter((n) => n.startsWith("up-"));
      assert.ok(inside.length >= stored, `${stored} uploads acknowledged, ${inside.length} inside the root`);
      assert.ok(served + stored >= 0);
    } finally {
      if (racer.exitCode === null) {
        racer.kill("SIGTERM");
        await exited;
      }
    }
  });
});
