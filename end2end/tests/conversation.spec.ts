import type { Page, Route } from "@playwright/test";
import { test, expect, widget, ask, ready, chatRequests } from "./fixtures";
import { API, SITE } from "../playwright.config";

const CHAT = `${API}/public/v1/support/chat`;

async function openWidget(page: Page, path = "index.html") {
  await page.goto(`${SITE}/${path}`);
  await ready(page);
  const w = widget(page);
  await w.launcher.click();
  await expect(w.input).toBeFocused();
  return w;
}

/** Holds each chat request for `ms` before letting it reach the real server. */
async function delayChat(page: Page, ms: number) {
  await page.route(CHAT, async (route: Route) => {
    await new Promise((resolve) => setTimeout(resolve, ms));
    await route.continue();
  });
}

test.describe("composing", () => {
  test("Enter sends, Shift+Enter adds a line, the text is trimmed, empty input is ignored", async ({ page }) => {
    const sent = chatRequests(page, API);
    const w = await openWidget(page);

    await page.keyboard.press("Enter");
    await page.keyboard.type("   ");
    await page.keyboard.press("Enter");
    await w.send.click();
    await expect(w.visitorMessages).toHaveCount(0);
    expect(sent).toHaveLength(0);

    await w.input.fill("");
    await page.keyboard.type("  How long does an application take?");
    await page.keyboard.press("Shift+Enter");
    await page.keyboard.type("Roughly?  ");
    await expect(w.input).toHaveValue("  How long does an application take?\nRoughly?  ");
    await page.keyboard.press("Enter");
    await expect(w.visitorMessages).toHaveText(["How long does an application take?\nRoughly?"]);
    await expect(w.input).toHaveValue("");
    await expect(w.assistantMessages).toHaveCount(2);
    expect(sent.map((r) => r.message)).toEqual(["How long does an application take?\nRoughly?"]);
  });

  test("a visible length limit matching the server's 1,000 characters", async ({ page }) => {
    const w = await openWidget(page);
    await expect(w.count).toHaveText("0/1000 characters");
    await expect(w.input).toHaveAttribute("maxlength", "1000");
    await expect(w.input).toHaveAttribute("aria-describedby", "sc-count");
    await page.keyboard.type("hello");
    await expect(w.count).toHaveText("5/1000 characters");
    await page.keyboard.insertText("x".repeat(1200));
    await expect(w.input).toHaveValue("hello" + "x".repeat(995));
    await expect(w.count).toHaveText("1000/1000 characters");
  });

  test("one request at a time: no double send on double click or key repeat; a typing indicator while waiting", async ({ page }) => {
    const sent = chatRequests(page, API);
    const w = await openWidget(page);
    await delayChat(page, 1200);

    await expect(w.typing).toBeHidden();
    await w.input.fill("How long does an application take?");
    await w.send.dblclick();
    await expect(w.typing).toBeVisible();
    await expect(w.typing).toContainText("Support is typing");
    await expect(w.send).toBeDisabled();

    // While the reply is pending, a new message (even with Enter held down) is not sent.
    await w.input.fill("Do I need a personal guarantee?");
    await page.keyboard.down("Enter");
    await page.keyboard.down("Enter"); // auto-repeat
    await page.keyboard.up("Enter");
    await expect(w.input).toHaveValue("Do I need a personal guarantee?");

    await expect(w.assistantMessages).toHaveCount(2);
    await expect(w.typing).toBeHidden();
    await expect(w.send).toBeEnabled();
    expect(sent.map((r) => r.message)).toEqual(["How long does an application take?"]);

    // Held Enter sends once, repeats do nothing.
    await page.keyboard.down("Enter");
    await page.keyboard.down("Enter");
    await page.keyboard.down("Enter");
    await page.keyboard.up("Enter");
    await expect(w.assistantMessages).toHaveCount(3);
    expect(sent.map((r) => r.message)).toEqual(["How long does an application take?", "Do I need a personal guarantee?"]);
  });
});

test.describe("replies", () => {
  test("suggestions become quick-reply buttons that send their text verbatim", async ({ page }) => {
    const sent = chatRequests(page, API);
    const w = await openWidget(page);
    await ask(page, "hello");
    await expect(w.chips).toHaveText(["Who can apply?", "How long does an application take?", "Talk to a person"]);
    await w.chips.filter({ hasText: "Who can apply?" }).click();
    await expect(w.visitorMessages.last()).toHaveText("Who can apply?");
    await expect(w.assistantMessages).toHaveCount(3);
    await expect(w.assistantMessages.last()).toContainText(/limited compan/i);
    expect(sent.map((r) => r.message)).toEqual(["hello", "Who can apply?"]);
    await expect(w.chips.first()).toBeVisible();
    await expect(w.chips.filter({ hasText: "Who can apply?" })).toHaveCount(0);
  });

  test("handoff replies are visibly distinct and show the human contact", async ({ page }) => {
    const w = await openWidget(page);
    const normal = await ask(page, "How long does an application take?");
    const handoff = await ask(page, "can I speak to a person");
    await expect(handoff).toHaveClass(/handoff/);
    await expect(normal).not.toHaveClass(/handoff/);
    await expect(handoff.locator(".tag")).toHaveText("Our team can help");
    await expect(handoff).toContainText("support@example.com");
    await expect(handoff).toContainText("0800 000 0000");
    const look = (l: typeof normal) =>
      l.evaluate((el) => {
        const cs = getComputedStyle(el);
        return [cs.backgroundColor, cs.borderLeftWidth, cs.borderLeftColor];
      });
    expect(await look(handoff)).not.toEqual(await look(normal));
    // The weather is out of scope: handed off too.
    await expect(await ask(page, "what's the weather in Paris")).toHaveClass(/handoff/);
    await expect(w.assistantMessages).toHaveCount(4);
  });

  test("markup in a message or a reply shows literally and runs nothing; only http(s) URLs become safe links", async ({ page }) => {
    const dialogs: string[] = [];
    page.on("dialog", async (d) => {
      dialogs.push(d.message());
      await d.dismiss();
    });
    const w = await openWidget(page);

    // The visitor's own markup, through the real server.
    const markup = `<img src=x onerror=alert(1)> <b>bold</b>`;
    await ask(page, markup);
    await expect(w.visitorMessages.last()).toHaveText(markup);

    // A reply with markup and URLs: the server cannot be made to say this, so it is stubbed.
    const reply =
      `<img src=x onerror=alert(2)><script>alert(3)</script> Apply at https://example.com/apply?x=1&y=2. ` +
      `Rates (http://example.org/rates) or javascript:alert(4) or ftp://example.net/x or https://`;
    await page.route(CHAT, (route) =>
      route.fulfill({
        status: 200,
        headers: { "access-control-allow-origin": "*", "content-type": "application/json" },
        body: JSON.stringify({ session: "0".repeat(32), reply, suggestions: ["<i>not italic</i>"], handoff: false }),
      }),
    );
    const shown = await ask(page, "links please");
    await expect(shown).toHaveText(reply);
    const links = shown.locator("a");
    await expect(links).toHaveCount(2);
    await expect(links.nth(0)).toHaveAttribute("href", "https://example.com/apply?x=1&y=2");
    await expect(links.nth(0)).toHaveText("https://example.com/apply?x=1&y=2");
    await expect(links.nth(1)).toHaveAttribute("href", "http://example.org/rates");
    for (const link of await links.all()) {
      await expect(link).toHaveAttribute("target", "_blank");
      await expect(link).toHaveAttribute("rel", "noopener noreferrer");
    }
    await expect(w.chips).toHaveText(["<i>not italic</i>"]);
    const injected = await w.host.evaluate((h) => h.shadowRoot!.querySelectorAll("img, script, b, i:not(.typing i)").length);
    expect(injected).toBe(0);
    expect(await page.locator("img, b").count()).toBe(0);
    await page.waitForTimeout(200);
    expect(dialogs).toEqual([]);
  });
});

test.describe("errors", () => {
  test.describe(() => {
    test.use({ expectedConsoleErrors: [/status of 500/] });

    test("a server error shows the envelope's message and a retry button that resends once", async ({ page }) => {
      const sent = chatRequests(page, API);
      const errors: unknown[] = [];
      await page.exposeFunction("recordError", (e: unknown) => errors.push(e));
      const w = await openWidget(page);
      await page.evaluate(() => (window as any).SupportChat.on("error", (e: unknown) => (window as any).recordError(e)));
      // The real server has no way to fail on demand: stub one 500.
      await page.route(
        CHAT,
        (route) =>
          route.fulfill({
            status: 500,
            headers: { "access-control-allow-origin": "*", "content-type": "application/json" },
            body: JSON.stringify({
              error: { code: "internal", message: "The assistant had a problem. Please try again.", status: 500, request_id: "r1" },
            }),
          }),
        { times: 1 },
      );
      await w.input.fill("How long does an application take?");
      await w.input.press("Enter");
      await expect(w.notices).toHaveText(["The assistant had a problem. Please try again."]);
      await expect(w.retry).toBeVisible();
      expect(errors).toEqual([{ code: "internal", message: "The assistant had a problem. Please try again.", status: 500 }]);

      await w.retry.click();
      await expect(w.assistantMessages).toHaveCount(2);
      await expect(w.assistantMessages.last()).toContainText(/appl(y|ication)/i);
      await expect(w.retry).toBeHidden();
      await expect(w.visitorMessages).toHaveCount(1);
      expect(sent.map((r) => r.message)).toEqual(["How long does an application take?", "How long does an application take?"]);
    });
  });

  test.describe(() => {
    test.use({ expectedConsoleErrors: [/ERR_INTERNET_DISCONNECTED/] });

    test("offline is detected and said; retry works once back online", async ({ page, context }) => {
      const w = await openWidget(page);
      await context.setOffline(true);
      await expect(w.status).toContainText("You're offline");
      await w.input.fill("How long does an application take?");
      await w.input.press("Enter");
      await expect(w.notices.last()).toContainText("You appear to be offline");
      await expect(w.retry).toBeVisible();
      await context.setOffline(false);
      await expect(w.status).not.toContainText("offline");
      await w.retry.click();
      await expect(w.assistantMessages).toHaveCount(2);
      await expect(w.status).toBeHidden();
    });
  });
});

test.describe("storage", () => {
  test("nothing is stored and no cookie is set before the first message; after it, the tab keeps the conversation", async ({
    page,
    context,
  }) => {
    const sent = chatRequests(page, API);
    const stored = () =>
      page.evaluate(() => ({ session: sessionStorage.length, local: localStorage.length, cookie: document.cookie }));
    const w = await openWidget(page);
    await w.close.click();
    await w.launcher.click();
    await page.keyboard.type("draft not sent");
    expect(await stored()).toEqual({ session: 0, local: 0, cookie: "" });
    expect(await context.cookies()).toEqual([]);

    await w.input.fill("How long does an application take?");
    await w.input.press("Enter");
    await expect(w.assistantMessages).toHaveCount(2);
    expect(await stored()).toEqual({ session: 1, local: 0, cookie: "" });
    expect(await context.cookies()).toEqual([]);
    const messages = w.log.locator(".msg:not(.typing)");
    const transcript = await messages.allTextContents();
    expect(transcript).toHaveLength(3);

    // Reload: the transcript, the open panel and the session come back.
    await page.reload();
    await ready(page);
    await expect(w.panel).toBeVisible();
    await expect(messages).toHaveText(transcript);
    await ask(page, "Do I need a personal guarantee?");
    expect(sent[1].session).toBeDefined();

    // Navigation within the tab, to another page of the site.
    await page.goto(`${SITE}/async.html`);
    await ready(page);
    await expect(w.visitorMessages).toHaveText(["How long does an application take?", "Do I need a personal guarantee?"]);
    await w.close.click();
    await page.reload();
    await ready(page);
    await expect(w.panel).toBeHidden(); // closed stays closed
    await w.launcher.click();
    await ask(page, "How do repayments work?");
    expect(new Set(sent.map((r) => r.session)).size).toBe(2); // undefined, then one session
    expect(sent[2].session).toBe(sent[1].session);
    expect(await context.cookies()).toEqual([]);
  });

  test("a message still on its way when the visitor goes to another page can be sent again there", async ({ page }) => {
    const sent = chatRequests(page, API);
    const w = await openWidget(page);
    await ask(page, "hello");
    // The reply to the next message never comes before the visitor leaves.
    await page.route(CHAT, () => new Promise(() => {}), { times: 1 });
    await w.input.fill("How long does an application take?");
    await w.input.press("Enter");
    await expect(w.visitorMessages).toHaveCount(2);
    await page.goto(`${SITE}/async.html`);
    await ready(page);
    await expect(w.visitorMessages).toHaveText(["hello", "How long does an application take?"]);
    await expect(w.retry).toBeVisible();
    await w.retry.click();
    await expect(w.assistantMessages).toHaveCount(3);
    await expect(w.retry).toBeHidden();
    await expect(w.visitorMessages).toHaveCount(2);
    expect(sent.at(-1)).toEqual(sent[1]);
  });

  test("the stored transcript is capped", async ({ page }) => {
    const w = await openWidget(page);
    await ask(page, "hello");
    // Make the stored conversation huge, as after a very long chat.
    await page.evaluate(() => {
      const state = JSON.parse(sessionStorage.getItem("support-chat:v1")!);
      for (let i = 0; i < 150; i++) state.m.push({ k: i % 2, t: `message ${i} ` + "x".repeat(500) });
      sessionStorage.setItem("support-chat:v1", JSON.stringify(state));
    });
    await page.reload();
    await ready(page);
    await ask(page, "How long does an application take?");
    const state = await page.evaluate(() => JSON.parse(sessionStorage.getItem("support-chat:v1")!));
    expect(state.m.length).toBeLessThanOrEqual(40);
    expect(JSON.stringify(state).length).toBeLessThan(26_000);
    expect(state.m.at(-2).t).toBe("How long does an application take?");
    expect(state.s).toMatch(/^[0-9a-f]{32}$/);
    await expect(w.log).toBeVisible();
  });
});
