/**
 * The dashboard in a real browser: Debian's chromium (installed by .ci/run) driven by puppeteer-core.
 * LLMUX_SCREENSHOT=path saves what the page looks like at the end (the README's picture).
 */
import puppeteer from "puppeteer-core";
import { assertEquals } from "../../src/testing/assert.ts";
import { freePort, RunningDaemon } from "./harness.ts";

const CHROMIUM = [Deno.env.get("CHROME_PATH"), "/usr/bin/chromium", "/usr/bin/chromium-browser"]
  .find((p) => p !== undefined && exists(p));

function exists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

Deno.test({
  name: "the dashboard shows every model, follows a request live, and puts a model to sleep on a click",
  // puppeteer keeps its websocket and pipes past close(); the daemon's own teardown checks still run.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    if (CHROMIUM === undefined) {
      return void await t.step({ name: "chromium not installed: skipped", ignore: true, fn() {} });
    }
    const adminPort = freePort();
    const d = await RunningDaemon.start({
      models: { a: { more: { gpu_memory_utilization: 0.3 } }, b: { more: { gpu_memory_utilization: 0.45 } } },
      extra: { admin_port: adminPort, admin_token: "s3cret", gpus: [{ index: 0, memory_gb: 80 }] },
    });
    const browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
    });
    try {
      const page = await browser.newPage();
      await page.setViewport({ width: 1280, height: 900 });
      const res = await page.goto(`http://127.0.0.1:${adminPort}/`);
      assertEquals(new URL(res!.url()).pathname, "/ui", "/ redirects to the dashboard");
      // The page asks for the admin token once and keeps it for the session.
      await page.waitForSelector("#token-form:not([hidden])", { timeout: 10_000 });
      await page.type("#token", "s3cret");
      await page.click("#token-form button");
      for (const m of ["a", "b"]) await page.waitForSelector(`tr[data-model="${m}"]`, { timeout: 10_000 });
      // Page-side code as strings: these tests are type-checked without the DOM library.
      const text = (selector: string) => `document.querySelector(${JSON.stringify(selector)})?.textContent`;
      const until = (expr: string) => page.waitForFunction(expr, { timeout: 10_000 });
      assertEquals(await page.evaluate(text('tr[data-model="a"] .state')), "stopped");

      // A request through the proxy: the page sees a wake up live (from the event stream).
      await (await d.chat("a")).text();
      await until(`${text('tr[data-model="a"] .state')} === "awake"`);
      await until(`${text("#timeline")}?.includes("model_activated")`);
      await until(`${text("#logs")}?.includes("a is active")`);
      // The memory plan of the GPU: a's 24 GB share awake; b (36 GB) fits beside it.
      await until(`${text('section[data-domain="0"]')}?.includes("gpu 0: planned 24.0 of 80 GB")`);
      await (await d.chat("b")).text();
      await until(`${text('tr[data-model="b"] .state')} === "awake"`);
      await until(`${text('section[data-domain="0"]')}?.includes("gpu 0: planned 60.0 of 80 GB")`);
      assertEquals(await page.evaluate(text('tr[data-model="a"] .state')), "awake");

      // Sleep with the eviction chosen in the row.
      await page.select('select[data-eviction="a"]', "offload+keep_running");
      await page.click('tr[data-model="a"] button[data-action="sleep"]');
      await until(`${text('tr[data-model="a"] .state')} === "sleeping L1"`);
      const engine = await (await d.engine("a", "/is_sleeping")).json();
      assertEquals(engine.is_sleeping, true, "the engine itself is asleep");
      assertEquals(await page.evaluate(`sessionStorage.getItem("llmux-admin-token")`), "s3cret");
      const shot = Deno.env.get("LLMUX_SCREENSHOT");
      if (shot) await page.screenshot({ path: shot as `${string}.png`, fullPage: true });
    } finally {
      await browser.close();
      await d.stop();
    }
  },
});
