import { defineConfig } from "@playwright/test";

/** The support-chat server: API, widget assets and demo page. */
export const API = "http://127.0.0.1:3000";
/** A second server with a tiny chat rate limit (2 per 60 s), for the 429 test. */
export const API_LIMITED = "http://127.0.0.1:3001";
/**
 * A customer's site on another origin and another site (`customer.test` is
 * mapped to 127.0.0.1 inside Chromium), embedding the widget by its two tags.
 */
export const SITE = "http://customer.test:4000";

/** The first server's admin listener, and its token (the complaints queue). */
export const ADMIN = "http://127.0.0.1:3100";
export const ADMIN_TOKEN = "an end-to-end admin token of enough length";

/** The site's webhook receiver, where the server sends handoffs (site-server.mjs). */
export const HOOKS = "http://127.0.0.1:4000/hooks";
const WEBHOOK_SECRET = "an end-to-end webhook secret";

/**
 * Business hours closed today and tomorrow (UTC), so the widget says, at
 * any time of day the suite runs, "We're closed now; we'll reply from 0:00
 * on <the day after tomorrow>".
 */
const day = (offset: number) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);
const HOURS = `Mon-Sun 00:00-23:59 UTC; closed ${day(0)},${day(1)}`;

// `SUPPORT_CHAT_E2E_SERVER` runs the suite against another build of the server.
const SERVER = process.env.SUPPORT_CHAT_E2E_SERVER ?? "./target/release/support-chat";
export default defineConfig({
  testDir: "./tests",
  outputDir: "./test-results",
  timeout: 30_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  forbidOnly: !!process.env.CI,
  reporter: [["list"]],
  use: {
    trace: "retain-on-failure",
    launchOptions: {
      // Debian's Chromium; Playwright never downloads a browser here.
      executablePath: "/usr/bin/chromium",
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
        "--host-resolver-rules=MAP customer.test 127.0.0.1",
      ],
    },
  },
  webServer: [
    {
      // A copy of the sample knowledge base, so that the console can add to it.
      command:
        `rm -rf target/e2e/kb && mkdir -p target/e2e && cp -r assistant/src/sample_kb target/e2e/kb && ` +
        `exec ${SERVER} --addr 127.0.0.1:3000 --admin-addr 127.0.0.1:3100 --database sqlite://target/e2e/records-3000.db --kb target/e2e/kb` +
        ` --handoff-webhook-url ${HOOKS}/handoff --handoff-limit 1000/1h --handoff-retry-secs 1`,
      cwd: "..",
      url: `${API}/healthz`,
      reuseExistingServer: false,
      timeout: 60_000,
      // The suite sends far more than a visitor would from one address: lift
      // the rate limits (a server without them ignores these variables).
      env: {
        SUPPORT_CHAT_CHAT_RATE_LIMIT: "100000/60s",
        SUPPORT_CHAT_FILES_RATE_LIMIT: "100000/60s",
        SUPPORT_CHAT_HANDOFF_WEBHOOK_SECRET: WEBHOOK_SECRET,
        SUPPORT_CHAT_BUSINESS_HOURS: HOURS,
        SUPPORT_CHAT_ADMIN_TOKEN: ADMIN_TOKEN,
      },
    },
    {
      // The same server with a tiny chat limit, for the 429 test.
      command: `${SERVER} --addr 127.0.0.1:3001 --admin-addr 127.0.0.1:0 --record off --chat-rate-limit 2/60s`,
      cwd: "..",
      url: `${API_LIMITED}/healthz`,
      reuseExistingServer: false,
      timeout: 60_000,
      env: { SUPPORT_CHAT_FILES_RATE_LIMIT: "100000/60s" },
    },
    {
      command: "node end2end/site-server.mjs",
      cwd: "..",
      url: "http://127.0.0.1:4000/healthz",
      reuseExistingServer: false,
      env: { SITE_PORT: "4000", API_ORIGIN: API, API_LIMITED_ORIGIN: API_LIMITED, SITE_WEBHOOK_SECRET: WEBHOOK_SECRET },
    },
  ],
});
