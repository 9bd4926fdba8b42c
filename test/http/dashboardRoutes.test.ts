import assert from "node:assert/strict";
import { test } from "node:test";
import { DASHBOARD_CSP, registerDashboard } from "../../src/http/dashboard.js";
import { fastify } from "../../src/http/deps.js";

test("the dashboard's files: content type, CSP, a weak ETag that answers 304, and nothing outside the folder", async () => {
  const app = fastify({ logger: false });
  registerDashboard(app);
  try {
    const page = await app.inject({ url: "/" });
    assert.equal(page.statusCode, 200);
    assert.equal(page.headers["content-type"], "text/html; charset=utf-8");
    assert.equal(page.headers["content-security-policy"], DASHBOARD_CSP);
    assert.match(page.body, /<script type="module" src="\/dashboard\/app.js">/);
    const js = await app.inject({ url: "/dashboard/app.js" });
    assert.equal(js.statusCode, 200);
    assert.equal(js.headers["content-type"], "text/javascript; charset=utf-8");
    const etag = js.headers.etag as string;
    assert.match(etag, /^W\/"[0-9a-f]+-[0-9a-f]+"$/);
    const again = await app.inject({ url: "/dashboard/app.js", headers: { "if-none-match": etag } });
    assert.equal(again.statusCode, 304);
    assert.equal(again.body, "");
    assert.equal((await app.inject({ url: "/dashboard/style.css" })).headers["content-type"], "text/css; charset=utf-8");
    const head = await app.inject({ method: "HEAD", url: "/dashboard/style.css" });
    assert.equal(head.statusCode, 200);
    for (const url of ["/dashboard/../package.json", "/dashboard/%2e%2e/package.json", "/dashboard/", "/dashboard/nope.js"]) {
      assert.equal((await app.inject({ url })).statusCode, 404, url);
    }
  } finally {
    await app.close();
  }
});
