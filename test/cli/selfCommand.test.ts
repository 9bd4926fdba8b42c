import assert from "node:assert/strict";
import { test } from "node:test";
import { selfCommand } from "../../src/cli/selfCommand.js";

const rows: { title: string; argv: string[]; execArgv?: string[]; cwd?: string; expected: string }[] = [
  { title: "after npm install, from the checkout", argv: ["/usr/bin/node", "/home/u/ferry/dist/src/cli/main.js", "demo"], cwd: "/home/u/ferry",
    expected: "node dist/src/cli/main.js status --config ./var/demo/demo.json" },
  { title: "from another folder: the absolute path", argv: ["/usr/bin/node", "/home/u/ferry/dist/src/cli/main.js"], cwd: "/tmp/x",
    expected: "node /home/u/ferry/dist/src/cli/main.js status --config ./var/demo/demo.json" },
  { title: "through the ferry bin (npm link, global install)", argv: ["/usr/bin/node", "/usr/local/bin/ferry"], cwd: "/tmp",
    expected: "ferry status --config ./var/demo/demo.json" },
  { title: "node options kept (tsx in the tests)", argv: ["/usr/bin/node", "/r/src/cli/main.ts"], execArgv: ["--import", "tsx"], cwd: "/r",
    expected: "node --import tsx src/cli/main.ts status --config ./var/demo/demo.json" },
];
for (const row of rows) {
  test(`selfCommand: ${row.title}`, () => {
    assert.equal(selfCommand(["status", "--config", "./var/demo/demo.json"], { argv: row.argv, execArgv: row.execArgv ?? [], cwd: () => row.cwd ?? "/" }), row.expected);
  });
}

test("selfCommand quotes words a shell would split", () => {
  assert.equal(selfCommand(["status", "--config", "./my demo/it's.json"], { argv: ["node", "/usr/bin/ferry"], execArgv: [], cwd: () => "/" }),
    `ferry status --config './my demo/it'\\''s.json'`);
});
