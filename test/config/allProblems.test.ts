import { test } from "node:test";
import assert from "node:assert/strict";
import { ConfigError, daemonConfigSchema, parseConfig } from "../../src/config/index.js";
import { closestKey } from "../../src/config/suggest.js";

const problemsOf = (text: string, env: NodeJS.ProcessEnv = {}): readonly string[] => {
  try {
    parseConfig("ferry.yaml", text, daemonConfigSchema, env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems;
  }
  return assert.fail("the config was accepted");
};

test("an unset ${VAR} no longer hides the other problems; unknown keys get a did-you-mean", () => {
  const problems = problemsOf(`
databse: ./q.db
workers: lots
remotes:
  box:
    url: ftp://user@files.example/
    password: \${BOX_PASSWORD}
    passwrd: oops
jobs:
  - name: up
    kind: upload
    watch: ./out
    target: box:/in
    stableFor: 2s
  - name: m
    kind: mirror
    source: ./site
    target: box:/site
    schedule: "*/5 * * * *"
    delte: true
`);
  assert.deepEqual([...problems].sort(), [
    "(top level): unknown key \"databse\" (did you mean \"database\"?)",
    "jobs[0]: unknown key \"stableFor\" (did you mean \"stable\"?)",
    "jobs[1]: unknown key \"delte\" (did you mean \"delete\"?)",
    "remotes.box.password: environment variable BOX_PASSWORD is not set (export BOX_PASSWORD=… or write the value in the file)",
    "remotes.box: unknown key \"passwrd\" (did you mean \"password\"?)",
    "workers: Invalid input: expected number, received string",
  ].sort(), problems.join("\n"));
  const message = new ConfigError("ferry.yaml", problems).message;
  assert.match(message, /invalid config \(6 problems\)/);
});

test("an unset variable alone is still refused; set, the config loads", () => {
  const text = "remotes:\n  box:\n    url: ftp://u@h/\n    password: ${PW}\njobs:\n  - name: m\n    kind: mirror\n    source: ./a\n    target: box:/a\n    schedule: \"*/5 * * * *\"\n";
  assert.deepEqual(problemsOf(text), ["remotes.box.password: environment variable PW is not set (export PW=… or write the value in the file)"]);
  const cfg = parseConfig("ferry.yaml", text, daemonConfigSchema, { PW: "secret" });
  assert.equal(cfg.remotes.box?.password, "secret");
});

test("closestKey: typos, case and separators; nothing for an unrelated word", () => {
  assert.equal(closestKey("shedule", ["schedule", "source"]), "schedule");
  assert.equal(closestKey("log_level", ["logLevel", "workers"]), "logLevel");
  assert.equal(closestKey("banana", ["schedule", "source"]), undefined);
});
