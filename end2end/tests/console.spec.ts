import type { Page } from "@playwright/test";
import AxeBuilder from "@axe-core/playwright";
import { test, expect } from "./fixtures";
import { ADMIN, ADMIN_TOKEN, API } from "../playwright.config";

/** A visitor's message straight to the public endpoint: the reply. */
async function say(page: Page, message: string) {
  const reply = await page.request.post(`${API}/public/v1/support/chat`, { data: { message } });
  expect(reply.status()).toBe(200);
  return reply.json();
}

async function axe(page: Page) {
  const results = await new AxeBuilder({ page })
    .withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"])
    .analyze();
  expect(results.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`)).toEqual([]);
}

async function signIn(page: Page) {
  await page.goto(`${ADMIN}/console`);
  await expect(page).toHaveURL(`${ADMIN}/console/sign-in`);
  await axe(page);
  await page.getByLabel("Admin token").fill("not the token");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("alert")).toHaveText("That is not the admin token.");
  await page.getByLabel("Admin token").fill(ADMIN_TOKEN);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(`${ADMIN}/console`);
}

test.describe("the operator console", () => {
  test.use({ expectedConsoleErrors: [/status of 401/] });

  test("signs in, reads the overview, teaches the assistant from the inbox and works a complaint", async ({ page }) => {
    const question = "Can you help me file my VAT return?";
    const before = await say(page, question);
    expect(before.handoff).toBe(true);
    const complaint = await say(page, "This is unacceptable, I was promised a call back and nobody rang");
    const reference: string = complaint.complaint;
    expect(reference).toMatch(/^CO-/);

    await signIn(page);
    await expect(page.getByRole("heading", { level: 1 })).toHaveText("The last 30 days");
    await expect(page.getByRole("table").first()).toBeVisible();
    await axe(page);

    // The inbox: the question appears (records are written in batches).
    await page.getByRole("link", { name: "Inbox" }).click();
    const item = page.getByRole("listitem").filter({ has: page.getByRole("heading", { name: question }) });
    await expect(async () => {
      await page.reload();
      await expect(item).toBeVisible({ timeout: 500 });
    }).toPass({ timeout: 15_000 });
    await axe(page);
    await item.getByLabel("Add as an example question to").selectOption("cost");
    await item.getByRole("button", { name: "Add as example" }).click();
    await expect(page.getByRole("status")).toContainText("Added to “cost”");
    await expect(page.getByRole("heading", { name: question })).toHaveCount(0);

    // The next visitor asking it gets that article's answer.
    const after = await say(page, question);
    expect(after.handoff).toBe(false);
    expect(after.reply).not.toEqual(before.reply);

    // The complaint, in the queue with its due dates; acknowledged.
    await page.getByRole("link", { name: "Complaints" }).click();
    const entry = page.getByRole("listitem").filter({ has: page.getByRole("heading", { name: reference }) });
    await expect(entry).toContainText("acknowledge by");
    await expect(entry).toContainText("final response by");
    await axe(page);
    await entry.getByLabel(`Status of ${reference}`).selectOption("acknowledged");
    await entry.getByRole("button", { name: "Save" }).click();
    await expect(page).toHaveURL(`${ADMIN}/console/complaints`);
    await expect(page.getByRole("listitem").filter({ has: page.getByRole("heading", { name: reference }) }).getByLabel(`Status of ${reference}`)).toHaveValue("acknowledged");

    // Conversations: search, read one (redacted as stored).
    await page.getByRole("link", { name: "Conversations" }).click();
    await page.getByLabel("Only those where a message holds").fill("VAT return");
    await page.getByRole("button", { name: "Search" }).click();
    await axe(page);
    await page.getByRole("table").getByRole("link").first().click();
    await expect(page.getByRole("table")).toContainText(question);
    await expect(page.getByRole("link", { name: "CSV" })).toBeVisible();
    await axe(page);

    await page.getByRole("link", { name: "Handoffs" }).click();
    await expect(page.getByRole("heading", { level: 1 })).toHaveText("Handoffs");
    await axe(page);

    await page.getByRole("link", { name: "Knowledge base" }).click();
    await expect(page.getByRole("table")).toContainText("who-can-apply");
    await axe(page);

    // Keyboard: the navigation is reachable and the focus visible; dark too.
    await page.emulateMedia({ colorScheme: "dark" });
    await page.goto(`${ADMIN}/console`);
    await axe(page);
    await page.keyboard.press("Tab");
    await expect(page.getByRole("link", { name: "Overview" })).toBeFocused();

    await page.getByRole("button", { name: "Sign out" }).click();
    await expect(page).toHaveURL(`${ADMIN}/console/sign-in`);
    await page.goto(`${ADMIN}/console`);
    await expect(page).toHaveURL(`${ADMIN}/console/sign-in`);
  });

  test("every page fits a phone, light and dark, and axe finds nothing on any of them", async ({ page }) => {
    // A complaint and a conversation, so the queue and the lists have rows to fit.
    await say(page, "I am really not happy with how long my application is taking, nobody replies to me");
    await page.setViewportSize({ width: 360, height: 740 });
    await signIn(page);
    const pages = ["/console", "/console/inbox", "/console/complaints", "/console/handoffs", "/console/conversations", "/console/kb"];
    await expect(async () => {
      await page.goto(`${ADMIN}/console/conversations`);
      await expect(page.getByRole("table").getByRole("link").first()).toBeVisible({ timeout: 500 });
    }).toPass({ timeout: 15_000 });
    const transcript = await page.getByRole("table").getByRole("link").first().getAttribute("href");
    for (const scheme of ["light", "dark"] as const) {
      await page.emulateMedia({ colorScheme: scheme });
      for (const path of [...pages, transcript!]) {
        await page.goto(`${ADMIN}${path}`);
        await expect(page.getByRole("heading", { level: 1 })).toBeVisible();
        // Nothing wider than the screen but a table, which scrolls in its own box.
        const tooWide = await page.evaluate(() => {
          const width = document.documentElement.clientWidth;
          return [...document.querySelectorAll("body *")]
            .filter((e) => !e.closest(".scroll") && e.getBoundingClientRect().right > width + 0.5)
            .map((e) => `${e.tagName.toLowerCase()}.${e.className}: ${Math.round(e.getBoundingClientRect().right)}px`);
        });
        expect(tooWide, `${path} (${scheme}) is wider than a phone`).toEqual([]);
        await axe(page);
      }
    }
    // The navigation is usable by keyboard at this width too.
    await page.keyboard.press("Tab");
    await expect(page.getByRole("link", { name: "Overview" })).toBeFocused();
  });
});
