import type { Page } from "@playwright/test";
import AxeBuilder from "@axe-core/playwright";
import { test, expect, widget, ask, ready } from "./fixtures";
import { API, SITE } from "../playwright.config";

/** A conversation that shows every kind of entry: reply, suggestions, handoff, notice. */
async function fullConversation(page: Page) {
  const w = widget(page);
  await ask(page, "hello");
  await ask(page, "can I speak to a person");
  await w.input.fill("bad \u0007 char");
  await w.input.press("Enter");
  await expect(w.notices).toHaveCount(1);
  await w.input.fill("");
  await expect(w.chips.first()).toBeVisible();
}

async function axe(page: Page) {
  const results = await new AxeBuilder({ page })
    .include("support-chat-widget")
    .withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"])
    .analyze();
  const summary = results.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
  expect(summary).toEqual([]);
  // axe really looked inside the shadow root.
  expect(results.passes.some((p) => p.id === "color-contrast")).toBe(true);
  expect(results.passes.some((p) => p.nodes.some((n) => JSON.stringify(n.target).includes("textarea")))).toBe(true);
}

test.describe("accessibility", () => {
  test.use({ expectedConsoleErrors: [/status of 400/] });

  test("axe finds no violations on the open widget in light mode", async ({ page }) => {
    await page.emulateMedia({ colorScheme: "light" });
    await page.goto(`${SITE}/index.html`);
    await fullConversation(page);
    await expect(widget(page).panel).toHaveCSS("background-color", "rgb(255, 255, 255)");
    await axe(page);
  });

  test("axe finds no violations on the open widget in dark mode (prefers-color-scheme)", async ({ page }) => {
    await page.emulateMedia({ colorScheme: "dark" });
    await page.goto(`${SITE}/index.html`);
    await fullConversation(page);
    await expect(widget(page).panel).toHaveCSS("background-color", "rgb(22, 25, 29)");
    await axe(page);
  });

  test("axe finds no violations with data-theme=dark and a custom accent", async ({ page }) => {
    await page.emulateMedia({ colorScheme: "light" });
    await page.goto(`${SITE}/configured.html`);
    await fullConversation(page);
    await expect(widget(page).panel).toHaveCSS("background-color", "rgb(22, 25, 29)");
    await axe(page);
  });

  test("data-theme=light overrides a dark preference", async ({ page }) => {
    await page.emulateMedia({ colorScheme: "dark" });
    await page.goto(`${SITE}/async.html`);
    await ready(page);
    await widget(page).launcher.click();
    await expect(widget(page).panel).toHaveCSS("background-color", "rgb(255, 255, 255)");
  });

  test("roles and names: launcher button with aria-expanded, labelled dialog, log live region, labelled input", async ({ page }) => {
    await page.goto(`${SITE}/index.html`);
    await ready(page);
    const w = widget(page);
    await expect(w.host.getByRole("button", { name: "Chat with us" })).toHaveAttribute("aria-expanded", "false");
    await expect(w.launcher).toHaveAttribute("aria-controls", "sc-panel");
    await w.launcher.click();
    await expect(w.launcher).toHaveAttribute("aria-expanded", "true");
    await expect(w.host.getByRole("dialog", { name: "Support" })).toBeVisible();
    await expect(w.log).toHaveAttribute("aria-label", "Conversation");
    await expect(w.host.getByRole("textbox", { name: "Your message" })).toBeFocused();
    await expect(w.close).toBeVisible();
    await expect(w.send).toBeVisible();
  });

  test("focus: to the input on open, back to the launcher on close and on Escape", async ({ page }) => {
    await page.goto(`${SITE}/index.html`);
    await ready(page);
    const w = widget(page);
    await w.launcher.click();
    await expect(w.input).toBeFocused();
    await w.close.click();
    await expect(w.panel).toBeHidden();
    await expect(w.launcher).toBeFocused();
    await expect(w.launcher).toHaveAttribute("aria-expanded", "false");

    await w.launcher.click();
    await expect(w.input).toBeFocused();
    await w.send.focus();
    await page.keyboard.press("Escape"); // from anywhere in the panel
    await expect(w.panel).toBeHidden();
    await expect(w.launcher).toBeFocused();
  });

  test("everything works by keyboard alone, with a visible focus indicator", async ({ page }) => {
    await page.goto(`${SITE}/index.html`);
    await ready(page);
    const w = widget(page);
    await page.keyboard.press("Tab");
    await expect(w.launcher).toBeFocused();
    await expect(w.launcher).toHaveCSS("outline-style", "solid");
    await expect(w.launcher).toHaveCSS("outline-width", "3px");
    await page.keyboard.press("Enter");
    await expect(w.input).toBeFocused();
    await page.keyboard.type("hello");
    await page.keyboard.press("Enter");
    await expect(w.assistantMessages).toHaveCount(2);
    await expect(w.chips.first()).toBeVisible();

    // Shift+Tab walks back from the input through the suggestions.
    await page.keyboard.press("Shift+Tab");
    await expect(w.chips.last()).toBeFocused();
    await expect(w.chips.last()).toHaveCSS("outline-style", "solid");
    await page.keyboard.press("Enter"); // a quick reply by keyboard
    await expect(w.assistantMessages).toHaveCount(3);

    // The scrollable transcript is reachable too, then the close button.
    await w.input.focus();
    await page.keyboard.press("Shift+Tab");
    while (!(await w.log.evaluate((el) => el.getRootNode() instanceof ShadowRoot && (el.getRootNode() as ShadowRoot).activeElement === el))) {
      await page.keyboard.press("Shift+Tab");
    }
    await expect(w.log).toBeFocused();
    await page.keyboard.press("Shift+Tab");
    await expect(w.close).toBeFocused();
    await expect(w.close).toHaveCSS("outline-style", "solid");
    await page.keyboard.press("Enter");
    await expect(w.panel).toBeHidden();
    await expect(w.launcher).toBeFocused();
  });

  test("prefers-reduced-motion turns the animations off", async ({ page }) => {
    const panelAnimation = () => widget(page).panel.evaluate((el) => getComputedStyle(el).animationName);
    const dotAnimation = () =>
      widget(page).host.evaluate((h) => getComputedStyle(h.shadowRoot!.querySelector(".typing i")!).animationName);

    await page.emulateMedia({ reducedMotion: "no-preference" });
    await page.goto(`${SITE}/index.html`);
    await ready(page);
    await widget(page).launcher.click();
    expect(await panelAnimation()).toBe("sc-rise");
    expect(await dotAnimation()).toBe("sc-blink");

    await page.emulateMedia({ reducedMotion: "reduce" });
    expect(await panelAnimation()).toBe("none");
    expect(await dotAnimation()).toBe("none");
  });
});

test.describe("phones", () => {
  test.use({ viewport: { width: 375, height: 667 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });

  test("at 375 px the open panel is full screen, the input has 16 px text, and chat works by touch", async ({ page }) => {
    await page.goto(`${SITE}/index.html`);
    await ready(page);
    const w = widget(page);
    await w.launcher.tap();
    await expect(w.panel).toBeVisible();
    // (once its opening animation has run)
    await expect
      .poll(async () => Object.values((await w.panel.boundingBox())!).map(Math.round))
      .toEqual([0, 0, 375, 667]);
    await expect(w.launcher).toBeHidden(); // covered by the panel: not left floating on top
    const fontSize = await w.input.evaluate((el) => parseFloat(getComputedStyle(el).fontSize));
    expect(fontSize).toBeGreaterThanOrEqual(16);
    // Sized with dvh units (the visible viewport), padded by the safe-area insets.
    const panelCss = await (await page.request.get(`${API}/public/v1/support/widget.css`)).text();
    expect(panelCss).toMatch(/100dvh/);
    expect(panelCss).toMatch(/safe-area-inset-bottom/);

    await w.input.tap();
    await page.keyboard.type("How long does an application take?");
    await w.send.tap();
    await expect(w.assistantMessages).toHaveCount(2);
    const composer = (await w.input.boundingBox())!;
    expect(composer.y + composer.height).toBeLessThanOrEqual(667);

    // An on-screen keyboard shrinks the visible viewport: the panel follows it,
    // so the input stays in view above the keyboard.
    await page.setViewportSize({ width: 375, height: 360 });
    await expect.poll(async () => Math.round((await w.panel.boundingBox())!.height)).toBe(360);
    const raised = (await w.input.boundingBox())!;
    expect(raised.y + raised.height).toBeLessThanOrEqual(360);
    await page.setViewportSize({ width: 375, height: 667 });

    await w.close.tap();
    await expect(w.panel).toBeHidden();
    await expect(w.launcher).toBeVisible();
    await expect(w.launcher).toBeFocused();
  });
});
