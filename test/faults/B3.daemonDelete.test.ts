/**
 * B3 in the daemon: a mirror job with `delete: true` refuses to delete after an empty
 * listing (allowEmptySource: false by default) and beyond its maxDelete (50% by default);
 * the job fails with the fix in its error and the local copy stays.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { tempDir } from "../helpers/tmp.js";
import { readTree, writeTree } from "../sync/treeUtil.js";
import { DaemonProcess, RestartableServer, testConfig, waitUntil } from "../daemon/harness.js";

test("daemon mirror jobs: an empty source and a mass delete are refused by default; allowEmptySource and maxDelete let them through", { timeout: 60_000 }, async (t) => {
  const dir = await tempDir("ferry-b3d-");
  const p = (...parts: string[]) => join(dir.path, ...parts);
  const server = new RestartableServer(p("srv"));
  await mkdir(p("srv", "empty"), { recursive: true });
  await server.start();
  let daemon: DaemonProcess | undefined;
  t.after(async () => { daemon?.kill("SIGKILL"); await daemon?.exited; await server.stop(); await dir.remove(); });

  const ten: Record<string, string> = {};
  for (let i = 0; i < 10; i++) ten[`f${i}.txt`] = `f${i}\n`;
  const four = Object.fromEntries(Object.entries(ten).slice(0, 4));
  await writeTree(p("srv", "half"), four);
  for (const l of ["l-empty", "l-half", "l-empty-ok", "l-half-ok"]) await writeTree(p(l), ten);
  await writeTree(p("srv", "up"), ten);
  await mkdir(p("up-empty"));
  const job = (name: string, source: string, target: string, extra: Record<string, unknown> = {}) =>
    ({ name, kind: "mirror", source, target, schedule: "0 0 1 1 *", catchUp: true, delete: true, ...extra });
  await writeFile(p("ferry.json"), testConfig({
    dir: dir.path, url: server.url, extra: { retry: { attempts: 1, initialDelay: "1s", maxDelay: "1s", jitter: 0 } },
    jobs: [
      job("empty", "srv:/empty", "./l-empty"),
      job("half", "srv:/half", "./l-half"),
      job("upempty", "./up-empty", "srv:/up"),
      job("emptyok", "srv:/empty", "./l-empty-ok", { allowEmptySource: true }),
      job("halfok", "srv:/half", "./l-half-ok", { maxDelete: "60%" }),
    ],
  }));
  daemon = new DaemonProcess(p("ferry.json"));
  const errorOf = (name: string): string | undefined => {
    const line = daemon!.lines.find((l) => l.job === name && (l.msg === "job dead" || l.msg === "job failed; will retry"));
    const err = line?.err as { message?: string } | string | undefined;
    return line ? (typeof err === "string" ? err : err?.message ?? JSON.stringify(line)) : undefined;
  };
  const succeeded = (name: string) => daemon!.lines.some((l) => l.job === name && l.msg === "job succeeded");
  await waitUntil(() => ["empty", "half", "upempty"].every((n) => errorOf(n) !== undefined) && succeeded("emptyok") && succeeded("halfok"),
    { timeoutMs: 40_000, what: "all five mirror runs to end", exited: daemon, onTimeout: () => daemon!.lines.filter((l) => l.job === "emptyok" || l.level === "error" && !l.job).map((l) => JSON.stringify(l)).join("\n") });

  assert.match(errorOf("empty")!, /refusing to delete 10 entries from .*l-empty: the source ftp:\/\/user:\*\*\*\*@127\.0\.0\.1:\d+\/+empty is empty; pass --allow-empty-source \(config: allowEmptySource: true\)/);
  assert.match(errorOf("half")!, /refusing to delete 6 of the 10 entries in .*l-half: more than --max-delete 50% \(5 entries\)/);
  assert.match(errorOf("upempty")!, /refusing to delete 10 entries from ftp:.*\/up: the source .*up-empty is empty/);
  assert.equal(Object.keys(await readTree(p("l-empty"))).length, 10, "the empty source deleted nothing");
  assert.equal(Object.keys(await readTree(p("l-half"))).length, 10, "the mass delete was refused");
  assert.equal(Object.keys(await readTree(p("srv", "up"))).length, 10, "the empty local source deleted nothing remote");
  assert.deepEqual(await readTree(p("l-empty-ok")), {});
  assert.deepEqual(Object.keys(await readTree(p("l-half-ok"))).sort(), Object.keys(four).sort());
  const r = await daemon.stop();
  assert.equal(r.code, 0);
  daemon = undefined;
});
