import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect } from "node:net";
import { once } from "node:events";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { Authenticator, FolderSync, FtpServer, syncFolder } from "../../src/server/index.js";
import { tempDir, pseudoRandomBytes } from "../helpers/tmp.js";
import { RawClient } from "./rawClient.js";

/** A promise with its resolve function outside. */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

async function waitFor<T>(what: string, fn: () => T | undefined | Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  for (let waited = 0; waited < timeoutMs; waited += 10) {
    const v = await fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe("FolderSync: group commit of folder fsyncs", () => {
  it("serves each request with an fsync that starts after it, and shares the next fsync among requests that arrive meanwhile", async () => {
    const runs: Array<{ path: string; release: () => void }> = [];
    const sync = new FolderSync((path) => {
      const d = deferred();
      runs.push({ path, release: d.resolve });
      return d.promise;
    });
    const served: string[] = [];
    const a = sync.flush("1:10", "/a").then(() => served.push("a"));
    assert.equal(runs.length, 1, "the first request starts an fsync at once");
    const b = sync.flush("1:10", "/b").then(() => served.push("b"));
    const c = sync.flush("1:10", "/c").then(() => served.push("c"));
    const other = sync.flush("1:11", "/other").then(() => served.push("other"));
    assert.deepEqual(runs.map((r) => r.path), ["/a", "/other"], "b and c wait for the running fsync to end; another folder runs beside it");
    runs[0]!.release();
    await a;
    assert.deepEqual(served, ["a"], "b and c are not served by the fsync that was running when they came");
    assert.deepEqual(runs.map((r) => r.path), ["/a", "/other", "/b"], "one fsync starts for b and c together");
    const d = sync.flush("1:10", "/d").then(() => served.push("d"));
    runs[2]!.release();
    await Promise.all([b, c]);
    assert.deepEqual(served, ["a", "b", "c"]);
    assert.equal(runs.length, 4, "d came while b's fsync ran: it gets its own, later one");
    runs[3]!.release();
    runs[1]!.release();
    await Promise.all([d, other]);
    assert.deepEqual(served.sort(), ["a", "b", "c", "d", "other"]);
    assert.equal(sync.busyFolders, 0, "idle folders are forgotten");
  });

  it("an fsync that fails still serves its requests (best effort, as before)", async () => {
    const sync = new FolderSync(() => Promise.reject(new Error("EIO")));
    await Promise.all([sync.flush("1:1", "/x"), sync.flush("1:1", "/x")]);
    assert.equal(sync.busyFolders, 0);
    const throwing = new FolderSync(() => {
      throw new Error("EBADF");
    });
    await Promise.all([throwing.flush("1:1", "/x"), throwing.flush("1:1", "/x")]);
    assert.equal(throwing.busyFolders, 0);
  });
});

describe("ferry serve: concurrent STORs into one folder share a folder fsync", () => {
  it("every 226 comes only after an fsync of the folder that started after that file's rename", async (t) => {
    const tmp = await tempDir("ferry-group-commit-");
    t.after(() => tmp.remove());
    const events: Array<{ kind: "start"; n: number; names: string[] } | { kind: "end"; n: number } | { kind: "226"; name: string }> = [];
    const firstHeld = deferred();
    let fsyncs = 0;
    const authenticator = await Authenticator.create({ root: tmp.path, users: [{ name: "user", password: "pass" }] });
    const server = new FtpServer({
      authenticator, host: "127.0.0.1", port: 0,
      syncFolder: async (path) => {
        const n = ++fsyncs;
        // What the fsync can vouch for: the names present when it starts.
        events.push({ kind: "start", n, names: (await readdir(path)).filter((e) => e.startsWith("f")).sort() });
        if (n === 1) await firstHeld.promise;
        await syncFolder(path);
        events.push({ kind: "end", n });
      },
    });
    const port = await server.listen();
    t.after(() => server.close(0));

    const files = ["f1.bin", "f2.bin", "f3.bin", "f4.bin"];
    const clients = await Promise.all(files.map(() => RawClient.login(port)));
    t.after(() => { for (const c of clients) c.close(); });
    const store = async (client: RawClient, name: string, i: number): Promise<void> => {
      const dataPort = await client.pasv();
      const data = connect({ host: "127.0.0.1", port: dataPort });
      await once(data, "connect");
      const pre = await client.send(`STOR ${name}`);
      assert.ok([125, 150].includes(pre?.code ?? 0), `STOR ${name}: ${pre?.code}`);
      data.end(pseudoRandomBytes(4096 + i, i + 1));
      const done = await client.next();
      assert.equal(done?.code, 226, `STOR ${name}: ${done?.code} ${done?.lines.join(" ")}`);
      events.push({ kind: "226", name });
    };

    // The first upload's fsync is held while the other three are renamed into the folder.
    const first = store(clients[0]!, files[0]!, 0);
    await waitFor("the first fsync", () => events.find((e) => e.kind === "start"));
    const rest = files.slice(1).map((name, i) => store(clients[i + 1]!, name, i + 1));
    await waitFor("the other renames", async () => {
      const present = await readdir(tmp.path);
      return files.every((f) => present.includes(f)) ? true : undefined;
    });
    assert.equal(fsyncs, 1, "no other fsync may start while one runs for the folder");
    firstHeld.resolve();
    await Promise.all([first, ...rest]);

    assert.equal(fsyncs, 2, `the three uploads renamed during the first fsync share one: ${JSON.stringify(events)}`);
    for (const name of files) {
      const at226 = events.findIndex((e) => e.kind === "226" && e.name === name);
      const covering = events.find((e) => e.kind === "start" && e.names.includes(name));
      assert.ok(covering && covering.kind === "start", `${name}: no fsync started after its rename`);
      const end = events.findIndex((e) => e.kind === "end" && e.n === covering.n);
      assert.ok(end >= 0 && end < at226, `${name}: 226 before the end of fsync ${covering.n}: ${JSON.stringify(events)}`);
    }
    for (const [i, name] of files.entries()) {
      assert.deepEqual(await readFile(join(tmp.path, name)), pseudoRandomBytes(4096 + i, i + 1));
    }
  });
});
