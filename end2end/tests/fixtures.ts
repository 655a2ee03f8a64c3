import { test as base, expect, type Page, type Locator } from "@playwright/test";
import { HOOKS } from "../playwright.config";

/**
 * Every test fails on any console error or uncaught page error. A test that
 * provokes an HTTP error on purpose lists the browser's own "Failed to load
 * resource" lines it expects in `expectedConsoleErrors`.
 */
export const test = base.extend<{ page: Page; expectedConsoleErrors: RegExp[] }>({
  expectedConsoleErrors: [[], { option: true }],
  page: async ({ page, expectedConsoleErrors }, use) => {
    const problems: string[] = [];
    page.on("console", (message) => {
      const text = message.text();
      if (message.type() === "error" && !expectedConsoleErrors.some((re) => re.test(text))) {
        problems.push(`console error: ${text}`);
      }
    });
    page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
    await use(page);
    expect(problems, "the page logged errors").toEqual([]);
  },
});

export { expect };

/** The widget's parts; Playwright's CSS locators pierce its open shadow root. */
export function widget(page: Page) {
  const host = page.locator("support-chat-widget");
  return {
    host,
    launcher: host.locator("button.launcher"),
    panel: host.getByRole("dialog"),
    input: host.getByRole("textbox", { name: "Your message" }),
    log: host.getByRole("log"),
    assistantMessages: host.locator(".msg.assistant:not(.typing)"),
    visitorMessages: host.locator(".msg.visitor"),
    notices: host.locator(".msg.notice"),
    typing: host.locator(".msg.typing"),
    send: host.getByRole("button", { name: "Send" }),
    close: host.getByRole("button", { name: "Close chat" }),
    chips: host.getByRole("group", { name: "Suggested questions" }).getByRole("button"),
    status: host.locator(".status"),
    retry: host.getByRole("button", { name: "Try again" }),
    count: host.locator(".count"),
  };
}

/** Resolves once the widget has mounted (its `ready` event). */
export async function ready(page: Page) {
  await page.waitForFunction(() => {
    const w = window as unknown as { SupportChat?: { on?: unknown } };
    return typeof w.SupportChat?.on === "function";
  });
  await page.evaluate(() => new Promise<void>((resolve) => (window as any).SupportChat.on("ready", () => resolve())));
}

/** POSTs to the chat endpoint seen by the page. */
export function chatRequests(page: Page, api: string) {
  const sent: { message: string; session?: string }[] = [];
  page.on("request", (request) => {
    if (request.url() === `${api}/public/v1/support/chat` && request.method() === "POST") sent.push(request.postDataJSON());
  });
  return sent;
}

/** Opens the widget, sends `text` with Enter, and returns the new reply's locator. */
export async function ask(page: Page, text: string): Promise<Locator> {
  const w = widget(page);
  // Wait for the widget to mount before reading its state: a page may start it open.
  await expect(w.launcher).toBeVisible();
  if ((await w.launcher.getAttribute("aria-expanded")) !== "true") await w.launcher.click();
  const before = await w.assistantMessages.count();
  await w.input.fill(text);
  await w.input.press("Enter");
  const reply = w.assistantMessages.nth(before);
  await expect(reply).toBeVisible();
  return reply;
}

/** The contact form and its parts. */
export function form(page: Page) {
  const host = widget(page).host;
  const form = host.getByRole("form", { name: "Ask a person to email you" });
  return {
    form,
    offer: host.getByRole("button", { name: "Ask a person to email me" }),
    email: form.getByRole("textbox", { name: "Email (required)" }),
    name: form.getByRole("textbox", { name: "Name (optional)" }),
    note: form.getByRole("textbox", { name: "Anything to add (optional)" }),
    error: form.getByRole("alert"),
    send: form.getByRole("button", { name: "Send request" }),
    cancel: form.getByRole("button", { name: "Cancel" }),
  };
}

/** What the site's webhook receiver got for `reference`, once it has. */
export async function delivered(page: Page, reference: string) {
  let found: { verified: boolean; body: any } | undefined;
  await expect
    .poll(async () => {
      const all = await (await page.request.get(`${HOOKS}/received`)).json();
      found = all.find((d: { body: { reference: string } }) => d.body.reference === reference);
      return found !== undefined;
    }, { timeout: 15_000 })
    .toBe(true);
  return found!;
}
