import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { createLogger } from "../../src/log/index.js";
import { reportedByCommand } from "../../src/cli/reportedWarnings.js";
import { tempDir } from "../helpers/tmp.js";

test("a one-shot command does not log the warnings its own output states; at debug, and in the daemon, everything is logged", async (t) => {
  const tmp = await tempDir();
  t.after(() => tmp.remove());
  const file = join(tmp.path, "log.jsonl");
  const omit = reportedByCommand("warn");
  assert.ok(omit);
  const logger = createLogger({ level: "warn", pretty: false, destination: file, omit });
  logger.warn("the server offers no checksum command: --checksum falls back to size and modification time");
  logger.warn({ path: "a.bin", reason: "changed" }, "partial file discarded: started over from byte 0");
  logger.warn({ retry: 1 }, "transfer failed, retrying");
  await new Promise<void>((resolve, reject) => logger.flush((err) => (err ? reject(err) : resolve())));
  const lines = (await readFile(file, "utf8")).split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(lines.map((l) => l.msg), ["transfer failed, retrying"]);
  assert.equal(lines[0]!.level, "warn");
  assert.match(String(lines[0]!.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.equal(reportedByCommand("debug"), undefined);
});
