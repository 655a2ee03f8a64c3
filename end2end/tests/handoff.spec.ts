import type { Page } from "@playwright/test";
import AxeBuilder from "@axe-core/playwright";
import { test, expect, widget, ask, ready, form, delivered } from "./fixtures";
import { SITE } from "../playwright.config";

/** The server's business hours (playwright.config.ts) are closed today and tomorrow. */
const CLOSED = /We're closed now; we'll reply from 0:00 on \w+day\./;

async function axe(page: Page) {
  const results = await new AxeBuilder({ page })
    .include("support-chat-widget")
    .withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"])
    .analyze();
  expect(results.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`)).toEqual([]);
  expect(results.passes.some((p) => p.nodes.some((n) => JSON.stringify(n.target).includes("sc-email")))).toBe(true);
}

test.describe("handoff to a person", () => {
  test.use({ expectedConsoleErrors: [/status of 400/] });

  test("after a handoff, a visitor leaves an email and the team's webhook gets the whole conversation", async ({ page }) => {
    await page.goto(`${SITE}/index.html`);
    await ready(page);
    const w = widget(page);
    const f = form(page);
    const reply = await ask(page, "do you have an office in Manchester? my number is 07700 900123");
    await expect(reply).toHaveClass(/handoff/);
    // Honest about the hours: in the reply and in the header.
    await expect(reply).toContainText(CLOSED);
    await expect(w.host.locator(".header .hours")).toHaveText(CLOSED);

    await expect(f.form).toBeHidden();
    await f.offer.click();
    await expect(f.form).toBeVisible();
    await expect(f.email).toBeFocused();
    await expect(f.form).toContainText("We'll send this conversation to our team and they'll reply by email.");
    await expect(f.form.locator(".when")).toHaveText(CLOSED);
    await expect(f.form).toContainText("We'll use your email only to reply to this request.");
    await expect(f.form.getByRole("link", { name: "Privacy notice" })).toBeHidden();

    // Checked inline, announced, focus on the field at fault.
    await f.send.click();
    await expect(f.error).not.toBeEmpty();
    await expect(f.email).toHaveAttribute("aria-invalid", "true");
    await expect(f.email).toBeFocused();
    await f.email.fill("jo@");
    await f.email.press("Enter");
    await expect(f.error).not.toBeEmpty();
    await expect(f.email).toBeFocused();

    await f.email.fill("jo.bloggs@example.co.uk");
    await f.name.fill("Jo Bloggs");
    await f.note.fill("Best after 2pm.");
    await f.send.click();
    await expect(f.form).toBeHidden();
    const notice = w.notices.last();
    await expect(notice).toContainText("will reply to jo.bloggs@example.co.uk");
    await expect(notice).toContainText(CLOSED);
    const reference = (await notice.textContent())!.match(/HO-[2-9A-Z]{4}-[2-9A-Z]{4}/)![0];
    await expect(w.input).toBeFocused();
    await expect(f.offer).toBeHidden();

    const got = await delivered(page, reference);
    expect(got.verified).toBe(true);
    expect(got.body.contact).toEqual({ email: "jo.bloggs@example.co.uk", name: "Jo Bloggs", note: "Best after 2pm." });
    expect(got.body.transcript.map((t: { message: string }) => t.message)).toEqual([
      "do you have an office in Manchester? my number is [phone]",
    ]);
    expect(got.body.availability).toMatch(CLOSED);
  });

  test("keyboard only: the offer, the fields and sending, with Cancel putting focus back", async ({ page }) => {
    await page.goto(`${SITE}/index.html`);
    await ready(page);
    const w = widget(page);
    const f = form(page);
    await ask(page, "do you have an office in Manchester?");
    await f.offer.focus();
    await page.keyboard.press("Enter");
    await expect(f.email).toBeFocused();
    await page.keyboard.press("Tab");
    await expect(f.name).toBeFocused();
    await page.keyboard.press("Tab");
    await expect(f.note).toBeFocused();
    await f.cancel.focus();
    await page.keyboard.press("Enter");
    await expect(f.form).toBeHidden();
    await expect(w.input).toBeFocused();

    await f.offer.focus();
    await page.keyboard.press("Enter");
    // Typed only once the form has put focus in the field (else keys are lost).
    await expect(f.email).toBeFocused();
    await page.keyboard.type("sam@example.com");
    await page.keyboard.press("Enter");
    await expect(f.form).toBeHidden();
    await expect(w.notices.last()).toContainText("Your reference is HO-");
  });

  test("after Not helpful, Talk to a person opens the form", async ({ page }) => {
    await page.goto(`${SITE}/index.html`);
    await ready(page);
    const f = form(page);
    await ask(page, "How long does an application take?");
    await widget(page).host.getByRole("button", { name: "Not helpful" }).click();
    await widget(page).host.getByRole("button", { name: "Talk to a person" }).click();
    await expect(f.form).toBeVisible();
    await expect(f.email).toBeFocused();
  });

  test("the site owner's consent line and privacy link, and axe finds nothing on the open form with an error", async ({ page }) => {
    await page.emulateMedia({ colorScheme: "light" });
    await page.goto(`${SITE}/configured.html`);
    await ready(page);
    const f = form(page);
    await ask(page, "do you have an office in Manchester?");
    await f.offer.click();
    await expect(f.form).toContainText("Acme keeps your email for 30 days & uses it only to reply.");
    const link = f.form.getByRole("link", { name: "Privacy notice" });
    await expect(link).toHaveAttribute("href", "https://acme.example/privacy");
    await expect(link).toHaveAttribute("target", "_blank");
    await f.send.click();
    await expect(f.error).not.toBeEmpty();
    // WCAG 2.2 target size: every control at least 24 by 24 CSS pixels.
    for (const control of [f.email, f.name, f.note, f.send, f.cancel]) {
      const box = (await control.boundingBox())!;
      expect(box.height).toBeGreaterThanOrEqual(24);
      expect(box.width).toBeGreaterThanOrEqual(24);
    }
    await axe(page);
  });

  test("a refusal from the server is shown on the form and announced", async ({ page }) => {
    await page.goto(`${SITE}/index.html`);
    await ready(page);
    const f = form(page);
    await ask(page, "do you have an office in Manchester?");
    await f.offer.click();
    await f.email.fill("jo@example.com");
    // A control character the browser lets through and the server refuses.
    await f.note.fill("call me \u0007 later");
    await f.send.click();
    await expect(f.error).toContainText("The note must be at most 1000 characters, without control characters.");
    await expect(f.email).toHaveAttribute("aria-invalid", "false");
    await expect(f.form).toBeVisible();
  });
});
