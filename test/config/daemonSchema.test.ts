import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ConfigError, daemonConfigSchema, loadConfigFile, parseConfig, parseDuration, parseJobSide } from "../../src/config/index.js";
import { resolveDaemonConfig } from "../../src/daemon/index.js";
import { REPO_ROOT, runFerry } from "../helpers/cli.js";
import { tempDir } from "../helpers/tmp.js";
import { undocumentedVariables, usedVariables } from "../helpers/configVars.js";

const GOOD_REMOTES = `remotes: { backup: { url: "ftp://edge@files.example:21/base", password: "s3cret" } }\n`;

/** A config with one job line (a YAML flow mapping) after a remotes section. */
const withJob = (job: string, extra = "") => `${GOOD_REMOTES}${extra}jobs:\n  - ${job}\n`;

/** Each bad config, and the "path: problem" lines its error must contain. */
const BAD_CONFIGS: { title: string; text: string; problems: string[] }[] = [
  { title: "no jobs", text: `${GOOD_REMOTES}jobs: []\n`, problems: ["jobs: no jobs: add at least one"] },
  { title: "jobs missing", text: GOOD_REMOTES, problems: ["jobs: "] },
  { title: "unknown remote in a mirror target", text: withJob(`{ name: p, kind: mirror, source: ./a, target: "bakup:/p", schedule: "* * * * *" }`),
    problems: ['jobs[0].target: unknown remote "bakup" (defined remotes: backup)'] },
  { title: "unknown remote in an upload target", text: withJob(`{ name: o, kind: upload, watch: ./o, target: "nope:/in" }`),
    problems: ['jobs[0].target: unknown remote "nope"'] },
  { title: "upload target is local", text: withJob(`{ name: o, kind: upload, watch: ./o, target: ./elsewhere }`),
    problems: ["jobs[0].target: expected REMOTE:/path"] },
  { title: "mirror with two local sides", text: withJob(`{ name: p, kind: mirror, source: ./a, target: ./b, schedule: "* * * * *" }`),
    problems: ["jobs[0].target: both sides are local"] },
  { title: "mirror with two remote sides", text: withJob(`{ name: p, kind: mirror, source: "backup:/a", target: "backup:/b", schedule: "* * * * *" }`),
    problems: ["jobs[0].target: both sides are remote"] },
  { title: "a URL as a job side", text: withJob(`{ name: p, kind: mirror, source: ./a, target: "ftp://h/x", schedule: "* * * * *" }`),
    problems: ["jobs[0].target: a URL is not allowed here"] },
  { title: "bad cron expression", text: withJob(`{ name: p, kind: mirror, source: ./a, target: "backup:/p", schedule: "61 * * * *" }`),
    problems: ["jobs[0].schedule: not a valid cron expression: minute"] },
  { title: "unknown kind", text: withJob(`{ name: p, kind: frobnicate }`), problems: ['jobs[0].kind: kind must be "mirror" or "upload"'] },
  { title: "duplicate job names", text: `${GOOD_REMOTES}jobs:\n  - { name: a, kind: upload, watch: ./o1, target: "backup:/in" }\n  - { name: a, kind: upload, watch: ./o2, target: "backup:/in" }\n`,
    problems: ['jobs[1].name: duplicate job name "a" (also jobs[0].name)'] },
  { title: "one folder watched twice", text: `${GOOD_REMOTES}jobs:\n  - { name: a, kind: upload, watch: ./o, target: "backup:/in" }\n  - { name: b, kind: upload, watch: ./o/, target: "backup:/x" }\n`,
    problems: ["jobs[1].watch: folder already watched by jobs[0]"] },
  { title: "move into the watched folder", text: withJob(`{ name: o, kind: upload, watch: ./o, target: "backup:/in", after: { move: ./o } }`),
    problems: ["jobs[0].after.move: must be outside the watched folder"] },
  { title: "bad after-action", text: withJob(`{ name: o, kind: upload, watch: ./o, target: "backup:/in", after: shred }`), problems: ["jobs[0].after: "] },
  { title: "bad stability window", text: withJob(`{ name: o, kind: upload, watch: ./o, target: "backup:/in", stable: "2 weeks" }`),
    problems: ['jobs[0].stable: expected a duration such as "500ms"'] },
  { title: "bad marker", text: withJob(`{ name: o, kind: upload, watch: ./o, target: "backup:/in", marker: done }`),
    problems: ["jobs[0].marker: a suffix starting with \".\""] },
  { title: "unknown job field", text: withJob(`{ name: o, kind: upload, watch: ./o, target: "backup:/in", shedule: x }`), problems: ["jobs[0]: ", "shedule"] },
  { title: "bad job name", text: withJob(`{ name: "my job", kind: upload, watch: ./o, target: "backup:/in" }`), problems: ["jobs[0].name: letters, digits"] },
  { title: "TLS options on a plain remote", text: `remotes: { b: { url: "ftp://h/", insecure: true } }\njobs:\n  - { name: o, kind: upload, watch: ./o, target: "b:/in" }\n`,
    problems: ["remotes.b.ca: ca and insecure apply to ftps:// and ftpes:// URLs only"] },
  { title: "relative CA path", text: `remotes: { b: { url: "ftpes://h/", ca: ./ca.pem } }\njobs:\n  - { name: o, kind: upload, watch: ./o, target: "b:/in" }\n`,
    problems: ["remotes.b.ca: must be an absolute path"] },
  { title: "embedded server user requiring TLS without server.tls", text: `remotes: { b: { url: "ftpes://h/" } }\njobs:\n  - { name: o, kind: upload, watch: ./o, target: "b:/in" }\nserver: { root: ./r, users: [ { name: u, passwordHash: "scrypt$1$1$1$a$b", requireTlsLogin: true } ] }\n`,
    problems: ['server.users[0]: user "u" requires TLS but server.tls is not set'] },
  { title: "not a URL", text: `remotes: { b: { url: "files.example" } }\njobs:\n  - { name: o, kind: upload, watch: ./o, target: "b:/in" }\n`,
    problems: ["remotes.b.url: not a URL"] },
  { title: "zero connections", text: `remotes: { b: { url: "ftp://h/", connections: 0 } }\njobs:\n  - { name: o, kind: upload, watch: ./o, target: "b:/in" }\n`,
    problems: ["remotes.b.connections: "] },
  { title: "bad remote name", text: `remotes: { "1b": { url: "ftp://h/" } }\njobs:\n  - { name: o, kind: upload, watch: ./o, target: "1b:/in" }\n`,
    problems: ["remotes.1b: a remote name is a letter"] },
  { title: "workers zero", text: withJob(`{ name: o, kind: upload, watch: ./o, target: "backup:/in" }`, "workers: 0\n"), problems: ["workers: "] },
  { title: "retry attempts zero", text: withJob(`{ name: o, kind: upload, watch: ./o, target: "backup:/in" }`, "retry: { attempts: 0 }\n"), problems: ["retry.attempts: "] },
  { title: "bad log level", text: withJob(`{ name: o, kind: upload, watch: ./o, target: "backup:/in" }`, "logLevel: loud\n"), problems: ["logLevel: "] },
  { title: "unknown top-level field", text: withJob(`{ name: o, kind: upload, watch: ./o, target: "backup:/in" }`, "wrokers: 3\n"), problems: ["wrokers"] },
  { title: "server without users", text: withJob(`{ name: o, kind: upload, watch: ./o, target: "backup:/in" }`, "server: { root: ./srv }\n"),
    problems: ["server.users: no users and anonymous is off"] },
  { title: "server bad listen", text: withJob(`{ name: o, kind: upload, watch: ./o, target: "backup:/in" }`, "server: { root: ./srv, anonymous: rw, listen: nowhere }\n"),
    problems: ["server.listen: expected host:port"] },
  { title: "unset environment variable", text: `remotes: { b: { url: "ftp://h/", password: "\${FERRY_TEST_UNSET_VAR}" } }\njobs:\n  - { name: o, kind: upload, watch: ./o, target: "b:/in" }\n`,
    problems: ["remotes.b.password: environment variable FERRY_TEST_UNSET_VAR is not set"] },
  { title: "several problems at once", text: `remotes: { b: { url: "ftp://h/" } }\nworkers: -1\njobs:\n  - { name: p, kind: mirror, source: ./a, target: "bakup:/p", schedule: "nope" }\n`,
    problems: ["workers: ", "jobs[0].schedule: ", 'jobs[0].target: unknown remote "bakup"'] },
  { title: "not YAML", text: "jobs: [ {", problems: ["not valid YAML"] },
];

describe("daemon config: bad configs are refused with every problem named by its path", () => {
  for (const row of BAD_CONFIGS) {
    it(row.title, () => {
      const err = (() => {
        try {
          parseConfig("bad.yaml", row.text, daemonConfigSchema, {});
        } catch (e) {
          return e;
        }
        assert.fail("the config was accepted");
      })();
      assert.ok(err instanceof ConfigError, String(err));
      for (const p of row.problems) assert.ok(err.problems.some((line) => line.includes(p)), `expected a problem containing ${JSON.stringify(p)}, got:\n${err.problems.join("\n")}`);
    });
  }
});

describe("daemon config: good configs", () => {
  it("applies defaults and converts durations", () => {
    const cfg = parseConfig("ok.yaml", withJob(`{ name: o, kind: upload, watch: ./o, target: "backup:in" }`), daemonConfigSchema, {});
    assert.equal(cfg.workers, 4);
    assert.equal(cfg.leaseTimeout, 30_000);
    assert.deepEqual(cfg.retry, { attempts: 10, initialDelay: 1000, maxDelay: 300_000, jitter: 0.2, localDelay: 60_000, localMaxDelay: 900_000, spaceCheck: 2000, loginDelay: 60_000, loginMaxDelay: 1_800_000 });
    const job = cfg.jobs[0]!;
    assert.equal(job.kind, "upload");
    if (job.kind === "upload") {
      assert.equal(job.stable, 2000);
      assert.equal(job.after, "keep");
    }
  });

  it("resolves paths against the config file and remote paths against the URL's folder", () => {
    const text = `${GOOD_REMOTES}database: ./db/q.db\njobs:\n  - { name: o, kind: upload, watch: ./o, target: "backup:in", after: { move: ../sent } }\n` +
      `  - { name: m, kind: mirror, source: "backup:/abs", target: ./local, schedule: "*/5 * * * *" }\n`;
    const cfg = resolveDaemonConfig("/etc/ferry/f.yaml", parseConfig("/etc/ferry/f.yaml", text, daemonConfigSchema, {}));
    assert.equal(cfg.database, "/etc/ferry/db/q.db");
    assert.equal(cfg.stateDir, "/etc/ferry/db/state");
    assert.deepEqual(cfg.uploads[0], {
      kind: "upload", name: "o", remote: "backup", remoteDir: "base/in", watch: "/etc/ferry/o", stableMs: 2000, rescanMs: 30_000,
      ignore: [], recursive: false, after: { kind: "move", dir: "/etc/sent" },
    });
    assert.equal(cfg.mirrors[0]!.direction, "download");
    assert.equal(cfg.mirrors[0]!.remoteRoot, "/abs");
    assert.equal(cfg.mirrors[0]!.localRoot, "/etc/ferry/local");
    assert.equal(cfg.remotes[0]!.connect.password, "s3cret");
    assert.equal(cfg.remotes[0]!.connect.user, "edge");
  });

  it("parses durations and job sides", () => {
    const rows: [number | string, number | undefined][] = [["500ms", 500], ["2s", 2000], ["1.5s", 1500], ["10m", 600_000], ["1h", 3_600_000], ["7d", 604_800_000], [250, 250], ["2", undefined], ["-1s", undefined], [-5, undefined]];
    for (const [input, expected] of rows) assert.equal(parseDuration(input), expected, String(input));
    assert.deepEqual(parseJobSide("backup:/photos"), { remote: "backup", path: "/photos" });
    assert.deepEqual(parseJobSide("backup:"), { remote: "backup", path: "" });
    assert.deepEqual(parseJobSide("./backup:/photos"), { local: "./backup:/photos" });
    assert.deepEqual(parseJobSide("/data/x"), { local: "/data/x" });
  });

  it("config/ferry.example.yaml and config/demo.yaml are valid", async () => {
    const env = { BACKUP_PASSWORD: "x", PARTNER_PASSWORD: "y", INGEST_TOKEN: "t", OUTBOX_CHECK_UUID: "u", FERRY_HOOK_SECRET: "s" };
    const example = await loadConfigFile(join(REPO_ROOT, "config", "ferry.example.yaml"), daemonConfigSchema, env);
    assert.equal(example.jobs.length, 3);
    assert.equal(example.hooks.length, 1);
    const outbox = example.jobs.find((j) => j.name === "outbox")!;
    assert.equal(outbox.hooks.length, 1);
    assert.equal(outbox.healthcheck?.url, "https://hc-ping.com/u");
    const demo = await loadConfigFile(join(REPO_ROOT, "config", "demo.yaml"), daemonConfigSchema, {});
    assert.ok(demo.server);
  });

  it("every ${VAR} the daemon examples use is documented (in the file's comments or the README)", async () => {
    assert.deepEqual(usedVariables(await readFile(join(REPO_ROOT, "config", "ferry.example.yaml"), "utf8")).sort(), ["BACKUP_PASSWORD", "FERRY_HOOK_SECRET", "INGEST_TOKEN", "OUTBOX_CHECK_UUID", "PARTNER_PASSWORD"]);
    for (const name of ["ferry.example.yaml", "demo.yaml", "docker-daemon.yaml"]) assert.deepEqual(await undocumentedVariables(name), [], name);
  });
});

describe("ferry daemon / status with a bad config", () => {
  let dir: { path: string; remove: () => Promise<void> };
  before(async () => (dir = await tempDir("ferry-badcfg-")));
  after(async () => dir.remove());

  for (const row of BAD_CONFIGS.filter((r) => ["unknown remote in a mirror target", "several problems at once", "bad cron expression"].includes(r.title))) {
    it(`exit 2 and the problems on stderr: ${row.title}`, async () => {
      const file = join(dir.path, "bad.yaml");
      await writeFile(file, row.text);
      for (const cmd of [["daemon", "--config", file], ["status", "--config", file]]) {
        const r = await runFerry(cmd, { timeoutMs: 30_000 });
        assert.equal(r.code, 2, `${cmd[0]}: ${r.stderr}`);
        for (const p of row.problems) assert.match(r.stderr, new RegExp(p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")));
      }
    });
  }

  it("a missing file is exit 2 naming the file", async () => {
    const r = await runFerry(["daemon", "--config", join(dir.path, "missing.yaml")], { timeoutMs: 30_000 });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /missing\.yaml: .*cannot read the file: ENOENT/s);
  });
});
