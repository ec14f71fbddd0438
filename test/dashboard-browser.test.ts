// The admin dashboard in a real browser (headless Chromium driven by playwright-core): the page shows the real client
// address from a PROXY header, its numbers move as requests arrive, and it loads nothing from anywhere but the admin
// listener. Chromium comes from the OS (`apt-get install chromium`); without it the test is skipped locally and fails
// in CI (CI=true), so a missing browser cannot pass for a working dashboard.
import test, { type ExecutionContext } from "ava";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  bootstrapYaml,
  exchange,
  get,
  hcmFilter,
  listener,
  proxyProtocolFilter,
  proxyV1,
  startTollgate,
  type Json,
} from "./helpers/e2e.js";

const CHROMIUM = process.env.TOLLGATE_CHROMIUM ?? "/usr/bin/chromium";

type Playwright = typeof import("playwright-core");
let playwright: Playwright | null = null;
try {
  playwright = await import("playwright-core");
} catch {
  playwright = null;
}
const missing = [playwright === null ? "playwright-core (npm)" : "", existsSync(CHROMIUM) ? "" : `${CHROMIUM} (apt-get install chromium)`].filter(Boolean);

const ROUTES: Json[] = [
  {
    name: "all",
    domains: ["*"],
    routes: [
      { match: { path: "/missing" }, direct_response: { status: 404, body: { inline_string: "nope" } } },
      { match: { prefix: "/" }, direct_response: { status: 200, body: { inline_string: "ok" } } },
    ],
  },
];

/** A fresh Chromium profile in a temp dir (playwright takes it as launchPersistentContext's userDataDir). */
async function launch(t: ExecutionContext, pw: Playwright) {
  const profile = mkdtempSync(join(tmpdir(), "tollgate-chromium-"));
  const context = await pw.chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    viewport: { width: 1280, height: 1100 },
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  t.teardown(async () => {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  });
  return context;
}

const run = missing.length === 0 || process.env.CI === "true" ? test : test.skip;

run("the dashboard shows the PROXY-protocol client address, updates live, and loads nothing from elsewhere", async (t) => {
  if (missing.length > 0) {
    t.fail(`CI must run the browser test; missing: ${missing.join(", ")}`);
    return;
  }
  const tg = await startTollgate(
    t,
    bootstrapYaml({
      listeners: [listener({ listenerFilters: [proxyProtocolFilter()], filters: [hcmFilter({ virtualHosts: ROUTES })] })],
      admin: true,
    }),
  );
  const port = tg.port();
  const send = async (src: string, path = "/"): Promise<number> =>
    (await exchange(t, port, Buffer.concat([proxyV1(src, "127.0.0.1"), Buffer.from(get(path))]))).status;
  t.is(await send("203.0.113.77"), 200);

  const admin = tg.server.adminAddress!;
  const origin = `http://127.0.0.1:${admin.port}`;
  const context = await launch(t, playwright!);
  const page = context.pages()[0] ?? (await context.newPage());
  const requested: string[] = [];
  const problems: string[] = [];
  page.on("request", (r) => requested.push(r.url()));
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));

  const response = await page.goto(`${origin}/`);
  t.is(response?.status(), 200);

  // The top-clients table names the address from the PROXY header, not the loopback peer.
  await page.waitForFunction(() => document.querySelector("#top-clients tbody")?.textContent?.includes("203.0.113.77") ?? false, null, {
    timeout: 15_000,
  });
  const clients = await page.locator("#top-clients tbody").innerText();
  t.false(clients.includes("127.0.0.1"), clients);

  // More requests: the window total on the page goes up without a reload.
  const count = async (): Promise<number> => Number((await page.locator("#total-window").innerText()).replace(/[^0-9]/g, ""));
  const before = await count();
  t.true(before >= 1);
  t.is(await send("198.51.100.23"), 200);
  t.is(await send("198.51.100.23", "/missing"), 404);
  t.is(await send("198.51.100.23"), 200);
  await page.waitForFunction(
    (want) => Number((document.querySelector("#total-window")?.textContent ?? "").replace(/[^0-9]/g, "")) >= want,
    before + 3,
    { timeout: 15_000 },
  );
  await page.waitForFunction(() => document.querySelector("#top-clients tbody")?.textContent?.includes("198.51.100.23") ?? false, null, {
    timeout: 15_000,
  });
  t.is(await page.locator("#state").innerText(), "LIVE");
  // The status chart is drawn (inline SVG, one path per status class).
  t.true((await page.locator("#chart-status svg path").count()) >= 6);

  if (process.env.TOLLGATE_DASHBOARD_SCREENSHOT) await page.screenshot({ path: process.env.TOLLGATE_DASHBOARD_SCREENSHOT, fullPage: true });

  // Only the admin origin was ever asked for anything (the page, then dashboard/data polls).
  t.true(requested.length >= 2);
  const foreign = requested.filter((u) => !u.startsWith(`${origin}/`));
  t.deepEqual(foreign, []);
  t.true(requested.some((u) => u === `${origin}/dashboard/data`));
  // The CSP let the page's own script run and blocked nothing it needed.
  t.deepEqual(problems, []);
});
