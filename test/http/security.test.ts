import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { createServer, type AddressInfo } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { daemonConfigSchema } from "../../src/config/index.js";
import { hasToken, needsToken } from "../../src/http/index.js";
import { runFerry } from "../helpers/cli.js";
import { tempDir } from "../helpers/tmp.js";
import { DaemonProcess } from "../daemon/harness.js";
import { TOKEN } from "./harness.js";

const base = {
  database: "./var/ferry.db",
  remotes: { srv: { url: "ftp://edge@127.0.0.1:2121/", password: "x" } },
  jobs: [{ name: "photos", kind: "mirror", source: "./photos", target: "srv:/photos", schedule: "0 0 1 1 *", catchUp: false }],
};

describe("HTTP security rules", () => {
  it("needsToken: every non-GET needs it; reads need it only on an exposed listen, health and dashboard files never", () => {
    const rows: [string, string, boolean, boolean][] = [
      ["POST", "/api/v1/jobs/x/run", false, true],
      ["DELETE", "/api/v1/status", false, true],
      ["GET", "/api/v1/status", false, false],
      ["GET", "/api/v1/status", true, true],
      ["GET", "/metrics", true, true],
      ["GET", "/api/v1/events", true, true],
      ["GET", "/healthz", true, false],
      ["GET", "/readyz", true, false],
      ["GET", "/", true, false],
      ["GET", "/dashboard/app.js", true, false],
    ];
    for (const [method, path, exposed, expected] of rows) assert.equal(needsToken(method, path, exposed), expected, `${method} ${path} exposed=${exposed}`);
  });

  it("hasToken accepts only `Bearer TOKEN`", () => {
    assert.equal(hasToken(`Bearer ${TOKEN}`, TOKEN), true);
    assert.equal(hasToken(`bearer ${TOKEN}`, TOKEN), true);
    assert.equal(hasToken(`Bearer ${TOKEN}x`, TOKEN), false);
    assert.equal(hasToken(TOKEN, TOKEN), false);
    assert.equal(hasToken(`Basic ${TOKEN}`, TOKEN), false);
    assert.equal(hasToken(undefined, TOKEN), false);
    assert.equal(hasToken(`Bearer ${TOKEN}`, undefined), false);
  });

  it("the config refuses a non-loopback listen without a token, a short token and a listen that is not HOST:PORT", () => {
    const problems = (http: unknown) => {
      const r = daemonConfigSchema.safeParse({ ...base, http });
      return r.success ? [] : r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
    };
    assert.deepEqual(problems({ listen: "127.0.0.1:8384" }), []);
    assert.deepEqual(problems({ listen: "[::1]:8384" }), []);
    assert.deepEqual(problems({}), []);
    assert.match(problems({ listen: "0.0.0.0:8384" }).join(), /http\.token: required when http\.listen \(0\.0\.0\.0:8384\) is not a loopback address: set token: "\$\{FERRY_HTTP_TOKEN\}"/);
    assert.match(problems({ listen: "192.168.1.5:8384", token: "short" }).join(), /http\.token: too short/);
    assert.match(problems({ listen: "8384" }).join(), /http\.listen: expected HOST:PORT/);
    assert.deepEqual(problems({ listen: "0.0.0.0:8384", token: TOKEN }), []);
  });

  it("`ferry daemon` with a non-loopback listen and no token exits 2 naming the fix, before touching anything", async () => {
    const dir = await tempDir("ferry-http-sec-");
    try {
      const file = join(dir.path, "ferry.json");
      await writeFile(file, JSON.stringify({ ...base, http: { listen: "0.0.0.0:0" } }));
      const r = await runFerry(["daemon", "--config", file]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /http\.token: required when http\.listen \(0\.0\.0\.0:0\) is not a loopback address/);
      assert.match(r.stderr, /FERRY_HTTP_TOKEN/);
    } finally {
      await dir.remove();
    }
  });
});

describe("a port already in use", () => {
  it("`ferry daemon` exits 1 naming http.listen, and leaves no lock behind", async () => {
    const dir = await tempDir("ferry-http-busy-");
    const busy = createServer();
    await new Promise<void>((r) => busy.listen(0, "127.0.0.1", r));
    try {
      const port = (busy.address() as AddressInfo).port;
      const file = join(dir.path, "ferry.json");
      await writeFile(file, JSON.stringify({ ...base, http: { listen: `127.0.0.1:${port}` } }));
      const r = await runFerry(["daemon", "--config", file]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`http\\.listen 127\\.0\\.0\\.1:${port}: .*EADDRINUSE.*pick another port`));
      assert.equal(existsSync(join(dir.path, "var", "ferry.db.lock")), false);
    } finally {
      busy.close();
      await dir.remove();
    }
  });
});

describe("an exposed listen (0.0.0.0) with a token: every data read needs it", () => {
  let dir: { path: string; remove: () => Promise<void> };
  let daemon: DaemonProcess;
  let url: string;
  before(async () => {
    dir = await tempDir("ferry-http-exposed-");
    const file = join(dir.path, "ferry.json");
    await writeFile(file, JSON.stringify({ ...base, http: { listen: "0.0.0.0:0", token: "${FERRY_HTTP_TOKEN}" } }));
    daemon = new DaemonProcess(file, { FERRY_HTTP_TOKEN: TOKEN });
    await daemon.waitForLog("HTTP API, metrics and dashboard listening");
    url = `http://127.0.0.1:${daemon.messages("HTTP API, metrics and dashboard listening")[0]!.port as number}`;
  });
  after(async () => {
    await daemon?.stop();
    await dir?.remove();
  });

  it("status, metrics and events answer 401 without the token and 200 with it; health and the dashboard page stay open", async () => {
    for (const path of ["/api/v1/status", "/metrics", "/api/v1/events"]) {
      assert.equal((await fetch(`${url}${path}`)).status, 401, path);
      assert.equal((await fetch(`${url}${path}?token=${TOKEN}`)).status, 401, `${path} with the token in the URL`);
    }
    const ok = await fetch(`${url}/api/v1/status`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(ok.status, 200);
    assert.ok(!(await ok.text()).includes(TOKEN));
    const metrics = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(metrics.status, 200);
    await metrics.text();
    assert.equal((await fetch(`${url}/healthz`)).status, 200);
    const page = await fetch(`${url}/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-security-policy") ?? "", /default-src 'self'/);
    assert.match(await page.text(), /<title>ferry<\/title>/);
    // The token never reaches the log, not even from the config's ${FERRY_HTTP_TOKEN}.
    assert.ok(!daemon.stderr.includes(TOKEN));
  });
});
