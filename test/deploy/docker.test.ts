import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { cp, mkdir, readFile, symlink, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join, posix } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, it } from "node:test";
import { parse } from "yaml";
import { daemonConfigSchema, loadConfigFile, serveFileSchema } from "../../src/config/index.js";
import { REPO_ROOT } from "../helpers/cli.js";
import { tempDir } from "../helpers/tmp.js";
import { copyArgs, execForm, readDockerfile, type Instruction } from "./dockerfile.js";

const dockerfile = readDockerfile(REPO_ROOT);
const all = (keyword: string, stage?: number): Instruction[] => dockerfile.filter((i) => i.keyword === keyword && (stage === undefined || i.stage === stage));
const one = (keyword: string): Instruction => {
  const found = all(keyword);
  assert.equal(found.length, 1, `the Dockerfile has one ${keyword}`);
  return found[0]!;
};
const lastStage = Math.max(...dockerfile.map((i) => i.stage));

/** The image's default command, as argv after the entrypoint. */
const entrypoint = execForm(one("ENTRYPOINT").args);
const cmd = execForm(one("CMD").args);
/** The config the default command runs, as a path inside the image. */
const defaultConfig = cmd[cmd.indexOf("--config") + 1]!;

/** Where an image path (/app/…) lies in a replayed runtime tree. */
const inApp = (app: string, imagePath: string) => join(app, posix.relative("/app", imagePath));

/** The image path a COPY of `src` to `dest` writes (WORKDIR /app; a dest ending in / is a folder). */
const copyTarget = (src: string, dest: string): string => {
  const abs = posix.resolve("/app", dest);
  return dest.endsWith("/") ? posix.join(abs, posix.basename(src)) : abs;
};

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

describe("Dockerfile facts (hadolint is not packaged for Debian: these checks stand in)", () => {
  it("every stage is a maintained LTS Node (22 or 24) on bookworm-slim", () => {
    const froms = all("FROM");
    assert.ok(froms.length >= 2, "a build stage and a runtime stage");
    for (const f of froms) assert.match(f.args, /^node:(22|24)-bookworm-slim(\s+AS\s+\w+)?$/i, f.args);
  });

  it("runs as a non-root user, with a HEALTHCHECK on a file the image holds", () => {
    const users = all("USER", lastStage);
    assert.ok(users.length > 0 && users.at(-1)!.args !== "root" && users.at(-1)!.args !== "0", "the runtime stage drops root");
    const health = one("HEALTHCHECK");
    assert.match(health.args, /--interval=\d+s/);
    const check = execForm(health.args.replace(/^(--\S+\s+)+CMD\s+/, ""));
    assert.deepEqual(check.slice(0, 1), ["node"]);
    const copied = all("COPY", lastStage).map((c) => copyArgs(c.args)).find((c) => c.sources.length === 1 && copyTarget(c.sources[0]!, c.dest) === check[1]);
    assert.ok(copied, `the HEALTHCHECK script ${check[1]} is copied into the image`);
    assert.ok(spawnSync("test", ["-f", join(REPO_ROOT, copied.sources[0]!)]).status === 0);
  });

  it("the default command serves config/docker.yaml, which needs no secret, listens on 0.0.0.0 and serves /data", async () => {
    assert.deepEqual(entrypoint, ["node", "/app/dist/src/cli/main.js"]);
    assert.equal(cmd[0], "serve");
    assert.equal(defaultConfig, "/app/config/docker.yaml");
    const cfg = await loadConfigFile(join(REPO_ROOT, "config", "docker.yaml"), serveFileSchema, {}); // an empty environment: no ${VAR}
    assert.match(cfg.server.listen, /^0\.0\.0\.0:\d+$/);
    assert.ok(cfg.server.root === "/data" || cfg.server.root.startsWith("/data/"), `root ${cfg.server.root} is inside the /data volume`);
    assert.ok(all("VOLUME").some((v) => v.args.includes("/data")));
  });

  it("the control port and the passive range agree between Dockerfile, config/docker.yaml, compose.yaml and the README", async () => {
    const cfg = await loadConfigFile(join(REPO_ROOT, "config", "docker.yaml"), serveFileSchema, {});
    const port = cfg.server.listen.split(":").at(-1)!;
    const pasv = cfg.server.pasv.ports!;
    assert.match(pasv, /^\d+-\d+$/);
    const exposed = all("EXPOSE").flatMap((e) => e.args.split(/\s+/));
    assert.ok(exposed.includes(port) && exposed.includes(pasv), `EXPOSE ${exposed.join(" ")} lists ${port} and ${pasv}`);
    const compose = parse(await readFile(join(REPO_ROOT, "compose.yaml"), "utf8")) as { services: Record<string, { ports?: string[] }> };
    assert.deepEqual(compose.services.server!.ports, [`${port}:${port}`, `${pasv}:${pasv}`]);
    const readme = await readFile(join(REPO_ROOT, "README.md"), "utf8");
    const runs = readme.split("\n").filter((l) => /^\s*docker run .*ferry/.test(l));
    assert.ok(runs.length > 0, "the README shows docker run");
    for (const run of runs) {
      assert.ok(run.includes(`-p ${pasv}:${pasv}`), `README: ${run} publishes the passive range`);
      assert.ok(new RegExp(`-p (\\d+:)?${port}\\b`).test(run), `README: ${run} publishes the control port`);
    }
    const header = await readFile(join(REPO_ROOT, "Dockerfile"), "utf8");
    for (const range of header.match(/\d{4,5}-\d{4,5}/g) ?? []) assert.equal(range, pasv, "every port range named in the Dockerfile is the config's");
  });

  it("compose.yaml: a server and a daemon with volumes, the daemon's config valid without secrets", async () => {
    const compose = parse(await readFile(join(REPO_ROOT, "compose.yaml"), "utf8")) as {
      services: Record<string, { command?: string[]; volumes?: string[]; healthcheck?: unknown }>; volumes: Record<string, unknown>;
    };
    assert.deepEqual(Object.keys(compose.services).sort(), ["daemon", "server"]);
    for (const s of Object.values(compose.services)) {
      for (const v of s.volumes ?? []) assert.ok(v.split(":")[0]! in compose.volumes, `volume ${v} is declared`);
    }
    const daemon = compose.services.daemon!;
    assert.equal(daemon.command?.[0], "daemon");
    const file = daemon.command![daemon.command!.indexOf("--config") + 1]!;
    assert.ok(daemon.healthcheck, "the daemon replaces the image's FTP-port check");
    const cfg = await loadConfigFile(inApp(REPO_ROOT, file), daemonConfigSchema, {});
    assert.ok(cfg.database.startsWith("/data/"), "the daemon's database is in its volume");
  });
});

describe("the image's steps, replayed without Docker", () => {
  it("build as the Dockerfile does, start the default command, and serve /data to curl and ferry", { timeout: 240_000 }, async (t) => {
    const tmp = await tempDir("ferry-docker-");
    t.after(() => tmp.remove());
    const build = join(tmp.path, "build");
    const app = join(tmp.path, "app");
    await mkdir(build);
    await mkdir(app);
    // Build stage: its COPY lines, then RUN npm ci. npm ci installs the lockfile (here: the
    // repository's installed node_modules, linked) and then runs the `prepare` build.
    for (const c of all("COPY", 0).map((i) => copyArgs(i.args))) {
      for (const src of c.sources) {
        const dest = inApp(build, copyTarget(src, c.dest));
        await cp(join(REPO_ROOT, src), dest, { recursive: true });
      }
    }
    const runs = all("RUN", 0).map((r) => r.args);
    assert.ok(runs.some((r) => /\bnpm ci\b/.test(r)), "the build stage runs npm ci");
    await symlink(join(REPO_ROOT, "node_modules"), join(build, "node_modules"));
    const prepare = spawnSync("npm", ["run", "prepare"], { cwd: build, encoding: "utf8" });
    assert.equal(prepare.status, 0, `npm run prepare: ${prepare.stdout}${prepare.stderr}`);
    // The README's way to run the build: node dist/src/cli/main.js (here, before the runtime copies).
    const version = spawnSync(process.execPath, [join(build, "dist", "src", "cli", "main.js"), "--version"], { encoding: "utf8" });
    assert.equal(version.status, 0, version.stderr);
    assert.equal(version.stdout.trim(), (JSON.parse(await readFile(join(REPO_ROOT, "package.json"), "utf8")) as { version: string }).version);
    // Runtime stage: its COPY lines, from the build stage or the repository.
    for (const c of all("COPY", lastStage).map((i) => copyArgs(i.args))) {
      for (const src of c.sources) {
        const from = c.from !== undefined ? join(build, posix.relative("/app", src)) : join(REPO_ROOT, src);
        const dest = inApp(app, copyTarget(src, c.dest));
        await mkdir(join(dest, ".."), { recursive: true });
        if (posix.basename(src) === "node_modules") await symlink(from, dest); // npm prune --omit=dev cannot run on a shared folder
        else await cp(from, dest, { recursive: true });
      }
    }
    // The volume: a file to serve. Inside the image it is /data; here --root points at a stand-in
    // and --port at a free port (the flags win over the config; the rest is config/docker.yaml's).
    const data = join(tmp.path, "data");
    await mkdir(data);
    await writeFile(join(data, "hello.txt"), "served from the volume\n");
    const port = await freePort();
    const argv = [...entrypoint.slice(1).map((a) => inApp(app, a)), ...cmd.map((a) => (a.startsWith("/app/") ? inApp(app, a) : a)), "--root", data, "--port", String(port)];
    const server = spawn(process.execPath, argv, { cwd: app, env: { ...process.env, NODE_ENV: "production", FERRY_LOG_LEVEL: "info" }, stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    server.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    server.stdout.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    t.after(() => { server.kill("SIGKILL"); });
    const exited = new Promise<number | null>((r) => server.on("exit", (code) => r(code)));

    // The HEALTHCHECK command turns healthy once the server is up.
    const health = execForm(one("HEALTHCHECK").args.replace(/^(--\S+\s+)+CMD\s+/, ""));
    let healthy = false;
    for (let i = 0; i < 200 && !healthy && server.exitCode === null; i++) {
      healthy = spawnSync(process.execPath, [inApp(app, health[1]!)], { env: { ...process.env, FERRY_HEALTHCHECK_PORT: String(port) } }).status === 0;
      if (!healthy) await sleep(100);
    }
    assert.ok(healthy, `the healthcheck never passed:\n${stderr}`);
    for (let i = 0; i < 100 && !stderr.includes('"serve.ready"'); i++) await sleep(50); // spawnSync held the log back
    assert.match(stderr, /"event":"server\.listen","host":"0\.0\.0\.0"/, `listening on every interface:\n${stderr}`);

    // Anonymous read-only access with curl (EPSV, then PASV from the 30000-30009 range).
    const list = spawnSync("curl", ["-sS", "--max-time", "20", `ftp://127.0.0.1:${port}/`], { encoding: "utf8" });
    assert.equal(list.status, 0, list.stderr);
    assert.match(list.stdout, /hello\.txt/);
    const pasv = spawnSync("curl", ["-sS", "--max-time", "20", "--disable-epsv", `ftp://127.0.0.1:${port}/hello.txt`], { encoding: "utf8" });
    assert.equal(pasv.status, 0, pasv.stderr);
    assert.equal(pasv.stdout, "served from the volume\n");
    const upload = spawnSync("curl", ["-sS", "--max-time", "20", "-T", "-", `ftp://127.0.0.1:${port}/new.txt`], { input: "x", encoding: "utf8" });
    assert.notEqual(upload.status, 0, "anonymous users cannot upload");
    // And with ferry's own client, from the replayed image.
    const get = spawnSync(process.execPath, [inApp(app, "/app/dist/src/cli/main.js"), "get", `ftp://anonymous@127.0.0.1:${port}/hello.txt`, join(tmp.path, "got.txt")],
      { encoding: "utf8", env: { ...process.env, HOME: tmp.path, FERRY_STATE_DIR: join(tmp.path, "state") } });
    assert.equal(get.status, 0, get.stderr);
    assert.equal(await readFile(join(tmp.path, "got.txt"), "utf8"), "served from the volume\n");

    // `docker stop` sends SIGTERM: the server stops cleanly.
    server.kill("SIGTERM");
    assert.equal(await exited, 0, stderr);
  });
});
