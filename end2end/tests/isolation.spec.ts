import type { Page } from "@playwright/test";
import { test, expect, widget, ask, ready } from "./fixtures";
import { SITE } from "../playwright.config";

/** Computed styles of the widget's parts that page CSS would most like to change. */
async function widgetStyles(page: Page) {
  const w = widget(page);
  await w.launcher.click();
  await expect(w.panel).toBeVisible();
  await ask(page, "hello");
  return w.host.evaluate((host) => {
    const root = host.shadowRoot!;
    const pick = (selector: string, props: string[]) => {
      const el = root.querySelector(selector)!;
      const cs = getComputedStyle(el);
      const box = el.getBoundingClientRect();
      return Object.fromEntries([...props.map((p) => [p, cs.getPropertyValue(p)]), ["size", `${box.width.toFixed(2)}x${box.height.toFixed(2)}`]]);
    };
    const text = ["font-family", "font-size", "font-style", "color", "letter-spacing", "text-transform", "line-height", "margin", "padding", "box-sizing"];
    const host_ = getComputedStyle(host);
    return {
      host: { position: host_.position, display: host_.display, transform: host_.transform, opacity: host_.opacity, right: host_.right, bottom: host_.bottom },
      launcher: pick(".launcher", ["display", "border-radius", "width", "height", "margin", "padding", "visibility"]),
      panel: pick(".panel", ["display", "visibility", "background-color", "padding"]),
      title: pick(".title", text),
      message: pick(".msg.visitor", [...text, "display"]),
      reply: pick(".msg.assistant:not(.typing)", [...text, "background-color"]),
      input: pick("textarea", [...text, "background-color", "display"]),
      send: pick(".send", [...text, "display", "border-radius"]),
    };
  });
}

test.describe("isolation", () => {
  test("hostile page CSS cannot restyle the widget; the documented custom property and z-index can", async ({ page, browser }) => {
    await page.goto(`${SITE}/hostile.html`);
    const hostile = await widgetStyles(page);

    const clean = await browser.newPage();
    await clean.goto(`${SITE}/index.html`);
    const reference = await widgetStyles(clean);
    await clean.close();

    expect(hostile).toEqual(reference);
    expect(hostile.host).toMatchObject({ position: "fixed", display: "block", transform: "none", opacity: "1" });

    const w = widget(page);
    // Documented overrides: --support-chat-accent and the host's z-index.
    await expect(w.launcher).toHaveCSS("background-color", "rgb(138, 21, 56)"); // #8a1538
    await expect(w.host).toHaveCSS("z-index", "7");
  });

  test("the widget's CSS, linked on the page too, matches nothing outside its host", async ({ page }) => {
    await page.goto(`${SITE}/index.html`);
    await ready(page);
    const looks = await page.evaluate(() => {
      const el = document.createElement("div");
      el.className = "launcher panel msg visitor assistant root chip log send close status composer count";
      el.setAttribute("role", "dialog");
      el.textContent = "a page element with the widget's class names";
      const area = document.createElement("textarea");
      document.body.append(el, area);
      const a = getComputedStyle(el);
      const t = getComputedStyle(area);
      return {
        position: a.position,
        background: a.backgroundColor,
        borderRadius: a.borderRadius,
        padding: a.padding,
        display: a.display,
        textareaFontSize: t.fontSize,
        textareaFieldSizing: t.getPropertyValue("field-sizing"),
      };
    });
    expect(looks).toEqual({
      position: "static",
      background: "rgba(0, 0, 0, 0)",
      borderRadius: "0px",
      padding: "0px",
      display: "block",
      textareaFontSize: "13.3333px",
      textareaFieldSizing: "fixed",
    });
  });

  test("clicks and keys reach the widget inside its shadow root", async ({ page }) => {
    await page.goto(`${SITE}/index.html`);
    await ready(page);
    const w = widget(page);
    expect(await w.host.evaluate((h) => h.shadowRoot?.mode)).toBe("open");
    await w.launcher.click(); // click handler in the shadow root
    await expect(w.panel).toBeVisible();
    await page.keyboard.type("How long does an application take?"); // input events
    await page.keyboard.press("Enter"); // keydown
    await expect(w.assistantMessages).toHaveCount(2);
    await page.keyboard.press("Escape");
    await expect(w.panel).toBeHidden();
  });
});

test.describe("content security policy", () => {
  test("works on a page whose CSP allows only the support-chat server (no inline styles, no eval)", async ({ page }) => {
    const violations: string[] = [];
    page.on("console", (m) => {
      if (/Content.Security.Policy|Refused to/i.test(m.text())) violations.push(m.text());
    });
    const response = await page.goto(`${SITE}/csp.html`);
    const csp = response!.headers()["content-security-policy"];
    expect(csp).toContain("script-src http://127.0.0.1:3000 'wasm-unsafe-eval'");
    expect(csp).toContain("style-src http://127.0.0.1:3000;");
    expect(csp).not.toContain("unsafe-inline");
    expect(csp).not.toContain("'unsafe-eval'");

    const w = widget(page);
    const reply = await ask(page, "How long does an application take?");
    await expect(reply).toContainText(/appl(y|ication)/i);
    // data-accent applies (through the CSSOM, which CSP allows) and the stylesheet loaded.
    await expect(w.launcher).toHaveCSS("background-color", "rgb(0, 105, 92)");
    await expect(w.panel).toHaveAccessibleName("Strict CSP support");
    // Nothing in the widget carries a style attribute or a <style> element.
    const inline = await w.host.evaluate((h) => h.shadowRoot!.querySelectorAll("style, [style]").length);
    expect(inline).toBe(0);
    expect(violations).toEqual([]);
  });
});
