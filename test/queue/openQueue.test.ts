// openQueue: the driver is picked from `database:`; a URL's password never reaches a message.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { isPostgresUrl, openQueue, redactUrl } from "../../src/queue/index.js";
import { DatabaseUnreachableError } from "../../src/queue/postgres/index.js";
import { tempDir } from "../helpers/tmp.js";

describe("openQueue", () => {
  it("redactUrl drops the password of a Postgres URL (user part or parameter) and leaves a path alone", () => {
    const rows: [string, string][] = [
      ["postgres://ferry:hunter2@db.example:5432/ferry", "postgres://ferry@db.example:5432/ferry"],
      ["postgresql://ferry@db.example/ferry?sslmode=require", "postgresql://ferry@db.example/ferry?sslmode=require"],
      ["postgres://db.example/ferry?user=ferry&password=hunter2", "postgres://db.example/ferry?user=ferry&password=***"],
      ["/var/lib/ferry/ferry.db", "/var/lib/ferry/ferry.db"],
    ];
    for (const [input, expected] of rows) assert.equal(redactUrl(input), expected, input);
    assert.ok(!redactUrl("postgres://ferry:hunter2@[bad/ferry").includes("hunter2"), "even an unparsable URL");
    assert.deepEqual(["postgres://h/d", "POSTGRESQL://h/d", "./var/ferry.db", "postgres.db", ":memory:"].map(isPostgresUrl), [true, true, false, false, false]);
  });

  it("a path opens SQLite (created, migrated, WAL); where is the path; the queue works and closes", async () => {
    const dir = await tempDir("ferry-openqueue-");
    try {
      const file = join(dir.path, "var", "ferry.db");
      const queue = await openQueue({ database: file, leaseMs: 1234 });
      assert.deepEqual([queue.driver, queue.where, queue.leaseMs], ["sqlite", file, 1234]);
      assert.equal((await queue.enqueue({ kind: "mirror", payload: { job: "m" } })).created, true);
      await queue.close();
      await assert.rejects(queue.getJob(1), /not open/, "calls after close reject");
      assert.ok(existsSync(`${file}-wal`) || existsSync(file));
      const readonly = await openQueue({ database: file, readonly: true });
      assert.equal((await readonly.listJobs()).length, 1);
      await readonly.close();
      await assert.rejects(openQueue({ database: join(dir.path, "missing.db"), readonly: true }), /created by the first `ferry daemon` run/);
    } finally {
      await dir.remove();
    }
  });

  it("a postgres:// URL goes to the Postgres driver; its errors never carry the password", async () => {
    // Port 1 refuses: the driver was reached and failed to connect.
    await assert.rejects(openQueue({ database: "postgres://ferry:hunter2@127.0.0.1:1/ferry" }),
      (e: unknown) => e instanceof DatabaseUnreachableError && e.message.includes("127.0.0.1:1") && !e.message.includes("hunter2"));
  });
});
