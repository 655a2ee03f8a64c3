import { test, expect, widget, ask, ready, form, delivered } from "./fixtures";
import { ADMIN, ADMIN_TOKEN, SITE } from "../playwright.config";

const COMPLAINT = "I've been waiting weeks and nobody answers my emails, this is a disgrace";
const DIFFICULTY = "my husband died last month and I can't cope with the repayments";

test.describe("complaints and visitors who need more help", () => {
  test("a complaint gets the complaints words, its reference and a person, and reaches the team's queue", async ({ page }) => {
    await page.goto(`${SITE}/index.html`);
    await ready(page);
    const f = form(page);
    const reply = await ask(page, COMPLAINT);
    await expect(reply).toContainText("Financial Ombudsman Service");
    await expect(reply).toHaveClass(/handoff/);
    await expect(reply).toContainText(/We have recorded this as a complaint\. Your reference is CO-[2-9A-Z]{4}-[2-9A-Z]{4}\./);
    const reference = (await reply.textContent())!.match(/CO-[2-9A-Z]{4}-[2-9A-Z]{4}/)![0];

    // The person offered, with the conversation attached.
    await f.offer.click();
    await f.email.fill("jo@example.com");
    await f.send.click();
    await expect(widget(page).notices.last()).toContainText("Your reference is HO-");
    const handoff = (await widget(page).notices.last().textContent())!.match(/HO-[2-9A-Z]{4}-[2-9A-Z]{4}/)![0];
    const got = await delivered(page, handoff);
    expect(got.body.transcript.map((t: { message: string }) => t.message)).toEqual([COMPLAINT]);

    // The team was told of the complaint itself as it was made, on the
    // site's webhook, signed, before anyone looked at the queue.
    const notice = await delivered(page, reference);
    expect(notice.verified).toBe(true);
    expect(notice.body).toMatchObject({ type: "complaint", reference, message: COMPLAINT });

    // In the complaints queue, open, with its due dates, and told.
    let item: any;
    await expect
      .poll(async () => {
        const queue = await page.request.get(`${ADMIN}/admin/api/complaints`, {
          headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
        });
        expect(queue.status()).toBe(200);
        item = (await queue.json()).items.find((c: { reference: string }) => c.reference === reference);
        return item?.notice;
      })
      .toBe("sent");
    expect(item).toMatchObject({ status: "open", message: COMPLAINT, overdue: false });
    expect(Date.parse(item.respond_by) - Date.parse(item.made_at)).toBe(56 * 86_400_000);
    expect(Date.parse(notice.body.complaint.acknowledge_by)).toBe(Date.parse(item.acknowledge_by));
  });

  test("a visitor in difficulty gets the support words and a person first, never how they were classed", async ({ page }) => {
    await page.goto(`${SITE}/index.html`);
    await ready(page);
    const reply = await ask(page, DIFFICULTY);
    await expect(reply).toContainText("Thank you for telling us.");
    await expect(reply).toHaveClass(/handoff/);
    await expect(reply).not.toContainText(/vulnerab|complaint|flag/i);
    await expect(form(page).offer).toBeVisible();
  });

  test("asking how to complain is an ordinary question: no reference, no form pushed", async ({ page }) => {
    await page.goto(`${SITE}/index.html`);
    await ready(page);
    const reply = await ask(page, "how do I make a complaint?");
    await expect(reply).toContainText("Financial Ombudsman Service");
    await expect(reply).not.toContainText("Your reference is");
    await expect(reply).not.toHaveClass(/handoff/);
  });
});
