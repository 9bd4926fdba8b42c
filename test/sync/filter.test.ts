import { test } from "node:test";
import assert from "node:assert/strict";
import { createFilter, type FilterOptions } from "../../src/sync/filter.js";

const rows: { title: string; opts: FilterOptions; path: string; type?: "file" | "dir"; accepts: boolean }[] = [
  { title: "no globs: everything", opts: {}, path: "a/b.txt", accepts: true },
  { title: "exclude by name at any depth", opts: { exclude: ["*.tmp"] }, path: "deep/er/x.tmp", accepts: false },
  { title: "exclude does not hit other names", opts: { exclude: ["*.tmp"] }, path: "x.tmpl", accepts: true },
  { title: "exclude a folder prunes it", opts: { exclude: ["node_modules"] }, path: "a/node_modules", type: "dir", accepts: false },
  { title: "exclude with a slash matches the whole path", opts: { exclude: ["logs/**"] }, path: "logs/2024/a.log", accepts: false },
  { title: "path glob does not match elsewhere", opts: { exclude: ["logs/**"] }, path: "app/logs/a.log", accepts: true },
  { title: "include selects files", opts: { include: ["*.jpg"] }, path: "p/a.jpg", accepts: true },
  { title: "include leaves others out", opts: { include: ["*.jpg"] }, path: "p/a.png", accepts: false },
  { title: "include still walks folders", opts: { include: ["*.jpg"] }, path: "p", type: "dir", accepts: true },
  { title: "exclude wins over include", opts: { include: ["*.jpg"], exclude: ["secret/**"] }, path: "secret/a.jpg", accepts: false },
  { title: "dotfiles match like any name", opts: { exclude: ["*.bak"] }, path: ".x.bak", accepts: false },
  { title: "brace alternatives", opts: { include: ["*.{jpg,png}"] }, path: "a.png", accepts: true },
];
for (const row of rows) {
  test(`filter: ${row.title}`, () => {
    assert.equal(createFilter(row.opts).accepts(row.path, row.type ?? "file"), row.accepts);
  });
}

test("filter: an empty glob is refused with a hint", () => {
  assert.throws(() => createFilter({ exclude: [" "] }), /empty glob.*\*\.log/);
});
