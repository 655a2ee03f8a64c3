import { defineConfig } from "@playwright/test";

/** The support-chat server: API, widget assets and demo page. */
export const API = "http://127.0.0.1:3000";
/**
 * A customer's site on another origin and another site (`customer.test` is
 * mapped to 127.0.0.1 inside Chromium), embedding the widget by its two tags.
 */
export const SITE = "http://customer.test:4000";

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
      command: "./target/release/support-chat --addr 127.0.0.1:3000",
      cwd: "..",
      url: `${API}/healthz`,
      reuseExistingServer: false,
      timeout: 60_000,
      stdout: "pipe",
    },
    {
      command: "node end2end/site-server.mjs",
      cwd: "..",
      url: "http://127.0.0.1:4000/healthz",
      reuseExistingServer: false,
      env: { SITE_PORT: "4000", API_ORIGIN: API },
    },
  ],
});
