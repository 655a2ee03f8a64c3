import { test, expect, widget, ask } from "./fixtures";
import { API, SITE } from "../playwright.config";

test("the demo page answers the seed question with a real reply from the server", async ({ page }) => {
  await page.goto(`${API}/`);
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Funding for UK limited companies");
  await expect(page.locator("pre code").first()).toContainText(`<script src="${API}/public/v1/support/widget.js" defer></script>`);

  const w = widget(page);
  await expect(w.launcher).toHaveAttribute("aria-expanded", "false");
  await w.launcher.click();
  await expect(w.launcher).toHaveAttribute("aria-expanded", "true");
  await expect(w.input).toBeFocused();

  const reply = await ask(page, "How long does an application take?");
  await expect(reply).toContainText(/appl(y|ication)/i);
  await expect(w.visitorMessages.last()).toHaveText("How long does an application take?");
});

test("a third-party page on another origin embeds the widget and keeps one session across turns", async ({ page }) => {
  const sent: { session?: string }[] = [];
  const received: { session: string }[] = [];
  page.on("request", (request) => {
    if (request.url() === `${API}/public/v1/support/chat` && request.method() === "POST") sent.push(request.postDataJSON());
  });
  page.on("response", async (response) => {
    if (response.url() === `${API}/public/v1/support/chat` && response.request().method() === "POST") {
      received.push(await response.json());
    }
  });

  await page.goto(`${SITE}/index.html`);
  expect(new URL(page.url()).origin).not.toBe(API);

  const first = await ask(page, "How long does an application take?");
  await expect(first).toContainText(/appl(y|ication)/i);
  const second = await ask(page, "Do I need a personal guarantee?");
  await expect(second).toContainText(/guarantee/i);

  expect(sent).toHaveLength(2);
  expect(sent[0].session).toBeUndefined();
  expect(received[0].session).toMatch(/^[0-9a-f]{32}$/);
  expect(sent[1].session).toBe(received[0].session);
  expect(received[1].session).toBe(received[0].session);
});

test.describe("errors", () => {
  test.use({ expectedConsoleErrors: [/status of 400/] });

  test("an error from the server is shown politely in the transcript", async ({ page }) => {
    await page.goto(`${SITE}/index.html`);
    const w = widget(page);
    await w.launcher.click();
    await w.input.fill("hello \u0007 there");
    await w.input.press("Enter");
    await expect(w.host.locator(".msg.notice")).toHaveText("The message contains control characters.");
    await expect(w.input).toBeEnabled();
  });
});
