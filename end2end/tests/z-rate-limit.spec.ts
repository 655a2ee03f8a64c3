// Runs last (files run in name order): it uses the second server, started
// with `--chat-rate-limit 2/60s`, so its third message gets a real 429.
import { test, expect, widget, ask, ready, chatRequests } from "./fixtures";
import { API_LIMITED, SITE } from "../playwright.config";

test.describe("rate limit", () => {
  test.use({ expectedConsoleErrors: [/status of 429/] });

  test("a 429 says how long to wait, counts down from Retry-After, keeps send disabled and never retries early", async ({
    page,
  }) => {
    // The wait is up to 60 s of real time: a fake clock fast-forwards the widget's countdown.
    await page.clock.install();
    const sent = chatRequests(page, API_LIMITED);
    const responses: { status: number; retryAfter?: string; body: any }[] = [];
    page.on("response", async (r) => {
      if (r.url() === `${API_LIMITED}/public/v1/support/chat` && r.request().method() === "POST") {
        responses.push({ status: r.status(), retryAfter: r.headers()["retry-after"], body: await r.json() });
      }
    });
    const errors: unknown[] = [];
    await page.exposeFunction("recordError", (e: unknown) => errors.push(e));
    await page.goto(`${SITE}/limited.html`);
    await ready(page);
    await page.evaluate(() => (window as any).SupportChat.on("error", (e: unknown) => (window as any).recordError(e)));
    const w = widget(page);

    await ask(page, "hello");
    await ask(page, "How long does an application take?");
    const votes = w.host.getByRole("group", { name: "Was this answer helpful?" });
    const answered = await votes.count();
    expect(answered).toBeGreaterThan(0);
    await w.input.fill("Who can apply?");
    await w.input.press("Enter");

    await expect.poll(() => responses.length).toBe(3);
    expect(responses[2].status).toBe(429);
    expect(responses[2].body.error.code).toBe("rate_limited");
    const retryAfter = Number(responses[2].retryAfter);
    expect(retryAfter).toBeGreaterThan(10);
    expect(retryAfter).toBeLessThanOrEqual(60);

    // Plainly said, with the time to wait.
    await expect(w.notices.last()).toHaveText(
      `You've sent a lot of messages in a short time. Please wait ${retryAfter} seconds before sending another.`,
    );
    await expect(votes, "no vote under a notice").toHaveCount(answered);
    await expect(w.status).toContainText(/You can send another message in \d+ seconds\./);
    await expect(w.send).toBeDisabled();
    expect(errors).toEqual([
      { code: "rate_limited", message: expect.stringContaining(`${retryAfter} seconds`), status: 429, retryAfter },
    ]);

    // The refused message is back in the box, to send by hand later.
    await expect(w.input).toHaveValue("Who can apply?");
    // Nothing sends while waiting: Enter, a click, a quick reply or the API.
    await w.input.press("Enter");
    await w.send.click({ force: true });
    await w.chips.first().click();
    expect(await page.evaluate(() => (window as any).SupportChat.send("Who can apply?"))).toBe(false);
    await expect(w.input).toHaveValue("Who can apply?");

    // It counts down...
    const left = async () => Number((await w.status.innerText()).match(/in (\d+) second/)![1]);
    const start = await left();
    await page.clock.fastForward(10_000);
    await expect.poll(left).toBeLessThanOrEqual(start - 10);
    expect(await left()).toBeGreaterThanOrEqual(start - 12);
    await expect(w.send).toBeDisabled();

    // ...and only then lets the visitor send again, without having retried by itself.
    await page.clock.fastForward(retryAfter * 1000);
    await expect(w.send).toBeEnabled();
    await expect(w.status).toBeHidden();
    expect(sent).toHaveLength(3);
    expect(responses).toHaveLength(3);
  });
});
