import { test, expect, widget, ready } from "./fixtures";
import { API } from "../playwright.config";

test("the demo page shows the configuration it uses and drives the widget through the JS API", async ({ page }) => {
  await page.goto(`${API}/`);
  await ready(page);
  const w = widget(page);

  // The configured tag is shown as used: the widget reflects every attribute.
  const shown = page.locator("pre code").nth(1);
  for (const attr of ['data-title="Example Business Finance"', 'data-position="right"', 'data-accent="#0a4d8c"', 'data-theme="auto"']) {
    await expect(shown).toContainText(attr);
  }
  const tag = page.locator(`script[src="/public/v1/support/widget.js"]`);
  await expect(tag).toHaveAttribute("data-greeting", "Hello! Ask me about applying, eligibility or repayments.");
  await expect(w.host).toHaveAttribute("data-position", "right");
  await expect(w.launcher).toHaveCSS("background-color", "rgb(10, 77, 140)");

  const events = page.locator("ol.events li");
  await expect(events).toHaveText(["ready"]);
  await page.getByRole("button", { name: "SupportChat.open()" }).click();
  await expect(w.panel).toBeVisible();
  await expect(w.panel).toHaveAccessibleName("Example Business Finance");
  await expect(w.assistantMessages.first()).toHaveText("Hello! Ask me about applying, eligibility or repayments.");
  await page.getByRole("button", { name: "SupportChat.close()" }).click();
  await expect(w.panel).toBeHidden();
  // Closed from the page: focus stays where the visitor put it.
  await expect(page.getByRole("button", { name: "SupportChat.close()" })).toBeFocused();
  await page.getByRole("button", { name: /SupportChat\.send/ }).click();
  await expect(w.assistantMessages).toHaveCount(2);
  await expect(events).toHaveText([
    "ready",
    "open",
    "close",
    "open",
    "message (sent): How long does an application take?",
    /^message \(received\): /,
  ]);
});
