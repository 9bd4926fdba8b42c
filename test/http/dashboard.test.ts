import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { tempDir } from "../helpers/tmp.js";
import { startHttpDaemon, TOKEN, type HttpDaemon } from "./harness.js";

const CHROMIUM = "/usr/bin/chromium";

/** playwright-core with Debian's chromium (no browser download); under CI a missing browser fails the test. */
async function launch() {
  if (!existsSync(CHROMIUM)) {
    if (process.env.CI === "true") throw new Error(`${CHROMIUM} is missing: CI must install Debian's chromium (.ci/run)`);
    return undefined;
  }
  const { chromium } = await import("playwright-core");
  return chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
}

describe("the dashboard in a real browser (chromium driven by playwright-core)", () => {
  let d: HttpDaemon;
  let shots: { path: string; remove: () => Promise<void> };
  before(async () => {
    d = await startHttpDaemon();
    shots = await tempDir("ferry-dashboard-");
  });
  after(async () => {
    await d?.stop();
    await shots?.remove();
  });

  it("shows the job; run now without the token is refused; with the token the run finishes and its transfers appear", async (t) => {
    const browser = await launch();
    if (!browser) {
      t.skip(`${CHROMIUM} not installed`);
      return;
    }
    try {
      const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
      await page.goto(`${d.base}/`);
      const row = page.locator('tr[data-job="photos"]');
      await row.waitFor();
      assert.match(await row.innerText(), /photos/);
      assert.match(await row.locator(".state").innerText(), /idle/);
      await page.locator("#live", { hasText: "live" }).waitFor();

      // No token typed yet: the daemon refuses the action and the page says so.
      await row.locator('button[data-action="run"]').click();
      await page.locator("#notice.error", { hasText: "refused (401)" }).waitFor();
      assert.equal(await page.evaluate("document.cookie"), "");

      // The token, typed once, is kept in sessionStorage (not a cookie) and sent as a bearer header.
      await page.fill("#token", TOKEN);
      await page.click('#token-form button[type="submit"]');
      assert.equal(await page.evaluate("sessionStorage.getItem('ferry.token')"), TOKEN);
      assert.equal(await page.evaluate("document.cookie"), "");
      await row.locator('button[data-action="run"]').click();
      await page.locator("#notice", { hasText: "run photos: photos: run" }).waitFor();
      // The event stream brings the end of the run: state ok and the two transfers, with how each was verified.
      await row.locator(".state", { hasText: /^ok/ }).waitFor({ timeout: 20_000 });
      const transfers = page.locator("#transfers tbody tr");
      await transfers.nth(1).waitFor();
      const text = await page.locator("#transfers").innerText();
      assert.match(text, /\/photos\/a\.jpg/);
      assert.match(text, /\/photos\/2026\/b\.jpg/);
      assert.match(text, /SHA-256|MD5|CRC32|SHA-1|size/i);
      assert.match(await page.locator("#remotes").innerText(), /srv[\s\S]*reachable/);
      await page.screenshot({ path: join(shots.path, "dashboard.png"), fullPage: true });
      assert.ok(existsSync(join(shots.path, "dashboard.png")));
      if (process.env.FERRY_DASHBOARD_SHOT) await page.screenshot({ path: process.env.FERRY_DASHBOARD_SHOT, fullPage: true });

      // A phone: the page still shows the job and its button without sideways scrolling of the page.
      await page.setViewportSize({ width: 390, height: 844 });
      const wide = await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1");
      assert.equal(wide, true);
    } finally {
      await browser.close();
    }
  });
});
