import type { Page } from "@playwright/test";
import AxeBuilder from "@axe-core/playwright";
import { test, expect, widget, ask, ready } from "./fixtures";
import { API, SITE } from "../playwright.config";

const FEEDBACK = `${API}/public/v1/support/feedback`;
const SESSION = `${API}/public/v1/support/session`;

/** The JSON bodies of requests the page sends to `url` with `method`. */
function requests(page: Page, url: string, method: string) {
  const sent: Record<string, unknown>[] = [];
  page.on("request", (request) => {
    if (request.url() === url && request.method() === method) sent.push(request.postDataJSON());
  });
  return sent;
}

test.describe("answer feedback", () => {
  test("under an answer: one vote, then thanks; after Not helpful a person is offered; never under a handoff", async ({ page }) => {
    const votes = requests(page, FEEDBACK, "POST");
    await page.goto(`${SITE}/index.html`);
    await ready(page);
    const w = widget(page);
    const answer = await ask(page, "How long does an application take?");
    const group = w.host.getByRole("group", { name: "Was this answer helpful?" });
    await expect(group).toHaveCount(1);
    await expect(group).toContainText("Was this helpful?");
    const helpful = group.getByRole("button", { name: "Helpful", exact: true });
    const notHelpful = group.getByRole("button", { name: "Not helpful" });
    await expect(helpful).toHaveAttribute("aria-pressed", "false");
    await notHelpful.click();
    await expect(notHelpful).toHaveAttribute("aria-pressed", "true");
    await expect(group).toContainText("Thanks for your feedback.");
    await expect(helpful).toBeDisabled();
    await expect.poll(() => votes.length).toBe(1);
    expect(votes[0]).toMatchObject({ helpful: false });
    expect(String(votes[0].reply_id)).toMatch(/^[0-9a-f]{32}$/);
    await notHelpful.click({ force: true });
    expect(votes).toHaveLength(1);
    await expect(answer).toBeVisible();

    // The offer of a person opens the contact form (handoff.spec.ts); a
    // handoff gets no vote.
    await group.getByRole("button", { name: "Talk to a person" }).click();
    await expect(w.host.getByRole("form", { name: "Ask a person to email you" })).toBeVisible();
    await w.host.getByRole("button", { name: "Cancel" }).click();
    await ask(page, "can I speak to a person");
    await expect(w.host.locator(".msg.handoff")).toHaveCount(1);
    await expect(w.host.getByRole("group", { name: "Was this answer helpful?" })).toHaveCount(1);
    const results = await new AxeBuilder({ page })
      .include("support-chat-widget")
      .withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"])
      .analyze();
    expect(results.violations.map((v) => v.id)).toEqual([]);
  });

  test("the vote survives a reload of the page", async ({ page }) => {
    await page.goto(`${SITE}/index.html`);
    await ready(page);
    await ask(page, "Do I need a personal guarantee?");
    const w = widget(page);
    const helpful = w.host.getByRole("button", { name: "Helpful", exact: true });
    const recorded = page.waitForResponse((r) => r.url() === FEEDBACK && r.request().method() === "POST");
    await helpful.click();
    await expect(helpful).toHaveAttribute("aria-pressed", "true");
    expect((await recorded).status()).toBe(204);
    await page.reload();
    await ready(page);
    await expect(helpful).toHaveAttribute("aria-pressed", "true");
  });

  test("a vote the page left with before the server had it is offered again, not thanked", async ({ page }) => {
    await page.goto(`${SITE}/index.html`);
    await ready(page);
    await ask(page, "Do I need a personal guarantee?");
    const w = widget(page);
    const helpful = w.host.getByRole("button", { name: "Helpful", exact: true });
    // The vote never reaches the server before the visitor moves on.
    await page.route(FEEDBACK, () => new Promise(() => {}), { times: 1 });
    await helpful.click();
    await expect(helpful).toHaveAttribute("aria-pressed", "true");
    await page.goto(`${SITE}/async.html`);
    await ready(page);
    await expect(helpful).toHaveAttribute("aria-pressed", "false");
    const recorded = page.waitForResponse((r) => r.url() === FEEDBACK && r.request().method() === "POST");
    await helpful.click();
    expect((await recorded).status()).toBe(204);
  });
});

test.describe("deleting a conversation", () => {
  test("Delete this conversation asks once more, erases it on the server and here, and starts afresh", async ({ page }) => {
    const deletes = requests(page, SESSION, "DELETE");
    const chats = requests(page, `${API}/public/v1/support/chat`, "POST");
    await page.goto(`${SITE}/index.html`);
    await ready(page);
    const w = widget(page);
    const erase = w.host.getByRole("button", { name: "Delete this conversation" });
    await w.launcher.click();
    await expect(erase).toBeHidden();
    await ask(page, "hello");
    const session = await page.evaluate(() => JSON.parse(sessionStorage.getItem("support-chat:v1") ?? "{}").s);
    expect(session).toMatch(/^[0-9a-f]{32}$/);

    // By keyboard: focus moves to the safe answer, and back when it is chosen.
    await erase.focus();
    await page.keyboard.press("Enter");
    const confirm = w.host.getByRole("group", { name: "Delete this conversation?" });
    const keep = confirm.getByRole("button", { name: "Keep it" });
    await expect(keep).toBeFocused();
    await page.keyboard.press("Enter");
    await expect(confirm).toBeHidden();
    await expect(erase).toBeFocused();
    expect(deletes).toHaveLength(0);
    await erase.click();
    await confirm.getByRole("button", { name: "Delete", exact: true }).click();
    await expect(w.notices).toHaveText(["Your conversation has been deleted."]);
    await expect(w.visitorMessages).toHaveCount(0);
    await expect.poll(() => deletes.length).toBe(1);
    expect(deletes[0]).toEqual({ session });
    await expect(w.input).toBeFocused();

    await ask(page, "hello again");
    expect(chats[chats.length - 1].session).toBeUndefined();
  });

  test("while a reply is on its way the conversation is not deleted; once it is in, it is, on the server too", async ({ page }) => {
    const deletes = requests(page, SESSION, "DELETE");
    const CHAT = `${API}/public/v1/support/chat`;
    // The reply takes a while: time to try Delete while it comes.
    let replied: (session: string) => void = () => {};
    const reply = new Promise<string>((resolve) => (replied = resolve));
    await page.route(CHAT, async (route) => {
      await new Promise((r) => setTimeout(r, 1500));
      const response = await route.fetch();
      const { session } = await response.json();
      await route.fulfill({ response });
      replied(session);
    });
    await page.goto(`${SITE}/index.html`);
    await ready(page);
    const w = widget(page);
    const erase = w.host.getByRole("button", { name: "Delete this conversation" });
    const confirm = w.host.getByRole("group", { name: "Delete this conversation?" });
    await w.launcher.click();
    await w.input.fill("How long does an application take?");
    await w.input.press("Enter");
    await expect(w.typing).toBeVisible();
    await expect(erase).toBeHidden();
    const session = await reply;
    await expect(w.assistantMessages).toHaveCount(2);
    await expect(erase).toBeVisible();

    // Asked to confirm, then another message: Delete does nothing until its reply is in.
    await erase.click();
    await expect(confirm).toBeVisible();
    await w.input.fill("Who can apply?");
    await w.input.press("Enter");
    await expect(w.typing).toBeVisible();
    const remove = confirm.getByRole("button", { name: "Delete", exact: true });
    await remove.click();
    await expect(w.visitorMessages).toHaveCount(2);
    expect(deletes).toHaveLength(0);
    await expect(w.assistantMessages).toHaveCount(3);
    await remove.click();
    await expect.poll(() => deletes.map((d) => d.session)).toEqual([session]);
    await expect(w.visitorMessages).toHaveCount(0);
    await expect(w.notices).toHaveText(["Your conversation has been deleted."]);
  });

  test.describe(() => {
    test.use({ expectedConsoleErrors: [/status of 503/] });

    test("when the server cannot delete it now, the session stays, after a reload too, to delete again", async ({ page }) => {
      const deletes = requests(page, SESSION, "DELETE");
      await page.goto(`${SITE}/index.html`);
      await ready(page);
      const w = widget(page);
      const erase = w.host.getByRole("button", { name: "Delete this conversation" });
      const confirm = w.host.getByRole("group", { name: "Delete this conversation?" });
      await ask(page, "hello");
      const stored = () => page.evaluate(() => JSON.parse(sessionStorage.getItem("support-chat:v1") ?? "{}").s);
      const session = await stored();
      // The records database not answering is not something to provoke from here: stub one 503.
      await page.route(
        SESSION,
        (route) =>
          route.fulfill({
            status: 503,
            headers: { "access-control-allow-origin": "*", "content-type": "application/json" },
            body: JSON.stringify({
              error: { code: "unavailable", message: "Please try again in a minute.", status: 503, request_id: "r1" },
            }),
          }),
        { times: 1 },
      );
      await erase.click();
      await confirm.getByRole("button", { name: "Delete", exact: true }).click();
      await expect(w.notices.last()).toHaveText(
        "Your conversation could not be deleted on our side yet: Please try again in a minute.",
      );
      expect(await stored()).toBe(session);

      await page.reload();
      await ready(page);
      await expect(erase).toBeVisible();
      await erase.click();
      await confirm.getByRole("button", { name: "Delete", exact: true }).click();
      await expect.poll(() => deletes.length).toBe(2);
      expect(deletes.map((d) => d.session)).toEqual([session, session]);
      await expect(w.notices.last()).toHaveText("Your conversation has been deleted.");
      expect(await stored()).toBeUndefined();
    });
  });
});
