import { get } from "node:http";
import { test, expect, widget, ask, ready, chatRequests } from "./fixtures";
import { API, SITE } from "../playwright.config";

test.describe("embedding", () => {
  test("the loader works with async as well as defer", async ({ page }) => {
    await page.goto(`${SITE}/async.html`);
    const reply = await ask(page, "How long does an application take?");
    await expect(reply).toContainText(/appl(y|ication)/i);
  });

  test("including the loader three times (defer, async, blocking) mounts exactly one widget", async ({ page }) => {
    await page.goto(`${SITE}/twice.html`);
    await ready(page);
    await expect(page.locator("support-chat-widget")).toHaveCount(1);
    await expect(widget(page).launcher).toHaveCount(1);
    const reply = await ask(page, "How long does an application take?");
    await expect(reply).toBeVisible();
    await expect(widget(page).visitorMessages).toHaveCount(1);
  });

  test("data-* attributes set title, greeting, position, accent, theme, start open and API base", async ({ page }) => {
    await page.goto(`${SITE}/configured.html`);
    const w = widget(page);
    // data-open: open on arrival, without taking focus from the page.
    await expect(w.panel).toBeVisible();
    await expect(w.input).not.toBeFocused();
    await expect(w.panel).toHaveAccessibleName("Acme Widgets help");
    await expect(w.assistantMessages.first()).toHaveText("Hi! Ask Acme anything about our finance.");
    await expect(w.host).toHaveAttribute("data-position", "left");
    await expect(w.host).toHaveAttribute("data-theme", "dark");
    const box = await w.host.boundingBox();
    expect(box!.x).toBeLessThan(100); // bottom-left corner
    await expect(w.launcher).toHaveCSS("background-color", "rgb(106, 27, 154)"); // #6a1b9a
    await expect(w.panel).toHaveCSS("background-color", "rgb(22, 25, 29)"); // dark panel
  });

  test("the defaults: title Support, greeting, bottom right, closed, the loader's own origin as API", async ({ page }) => {
    const sent = chatRequests(page, API);
    await page.goto(`${SITE}/index.html`);
    await ready(page);
    const w = widget(page);
    await expect(w.panel).toBeHidden();
    const box = await w.host.boundingBox();
    const viewport = page.viewportSize()!;
    expect(box!.x + box!.width).toBeGreaterThan(viewport.width - 40);
    expect(box!.y + box!.height).toBeGreaterThan(viewport.height - 40);
    await w.launcher.click();
    await expect(w.panel).toHaveAccessibleName("Support");
    await expect(w.assistantMessages.first()).toHaveText("Hello! How can we help?");
    await ask(page, "hello");
    expect(sent).toHaveLength(1);
  });

  test("window.SupportChat queues calls made before the widget loads, and reports events", async ({ page }) => {
    await page.goto(`${SITE}/api.html`);
    const w = widget(page);
    await expect(w.panel).toBeVisible();
    await expect(w.visitorMessages).toHaveText(["How long does an application take?"]);
    await expect(w.assistantMessages).toHaveCount(2);
    expect(await page.evaluate(() => (window as any).queuedBeforeLoad)).toBe(true);

    const names = () => page.evaluate(() => (window as any).events.map((e: unknown[]) => e[0]));
    await expect.poll(names).toEqual(["open", "message", "ready", "message"]);
    const events = await page.evaluate(() => (window as any).events);
    expect(events[1][1]).toEqual({ direction: "sent", text: "How long does an application take?" });
    expect(events[3][1]).toMatchObject({ direction: "received", handoff: false });
    expect(events[3][1].text).toMatch(/appl(y|ication)/i);
    expect(Array.isArray(events[3][1].suggestions)).toBe(true);

    // After ready, calls act at once.
    await page.evaluate(() => (window as any).SupportChat.close());
    await expect(w.panel).toBeHidden();
    await page.evaluate(() => (window as any).SupportChat.toggle());
    await expect(w.panel).toBeVisible();
    await expect(w.input).toBeFocused();
    await page.evaluate(() => (window as any).SupportChat.toggle());
    await expect(w.panel).toBeHidden();
    await expect(w.launcher).toBeFocused();
    expect((await names()).slice(4)).toEqual(["close", "open", "close"]);

    // on("ready") after ready fires at once; send() returns whether it sent.
    const late = await page.evaluate(
      () => new Promise((resolve) => (window as any).SupportChat.on("ready", () => resolve("called"))),
    );
    expect(late).toBe("called");
    expect(await page.evaluate(() => (window as any).SupportChat.send("   "))).toBe(false);
    expect(await page.evaluate(() => (window as any).SupportChat.send("Do I need a personal guarantee?"))).toBe(true);
    await expect(w.assistantMessages).toHaveCount(3);
  });

  test.describe(() => {
    test.use({ expectedConsoleErrors: [/status of 400/] });
    test("an API error (a real 400 from the server) is reported through on('error')", async ({ page }) => {
    await page.goto(`${SITE}/api.html`);
    await expect(widget(page).assistantMessages).toHaveCount(2);
    await page.evaluate(() => (window as any).SupportChat.send("hello \u0007 there"));
    await expect
      .poll(() => page.evaluate(() => (window as any).events.filter((e: unknown[]) => e[0] === "error")))
      .toEqual([["error", { code: "message_invalid_characters", message: "The message contains control characters.", status: 400 }]]);
    });
  });
});

test.describe("cost to the host page", () => {
  test("nothing heavy before load; launcher usable soon after; no layout shift; no long tasks", async ({ page }) => {
    await page.goto(`${SITE}/timing.html`);
    await ready(page);
    const w = widget(page);
    await w.launcher.click();
    await expect(w.panel).toBeVisible();
    await w.close.click();
    const perf = await page.evaluate(() => (window as any).perf);
    test.info().annotations.push({
      type: "timing",
      description: `ready ${Math.round(perf.ready - perf.load)} ms after load; long tasks ${JSON.stringify(perf.longTasks)}`,
    });
    // Only the loader (and the page's own widget.css) before `load`.
    expect(perf.widgetRequestsBeforeLoad).toEqual([]);
    expect(perf.ready).toBeGreaterThan(perf.load);
    expect(perf.ready - perf.load).toBeLessThan(300);
    expect(perf.shifts).toBe(0);
    expect(Math.max(0, ...perf.longTasks)).toBeLessThan(200);
  });

  test("the server sends every widget asset compressed, 100 KB gzip or less in all", async ({ page }) => {
    const urls = new Set<string>();
    page.on("response", (r) => {
      if (r.url().startsWith(`${API}/public/v1/support/widget`)) urls.add(r.url());
    });
    await page.goto(`${SITE}/index.html`);
    await ready(page);
    const names = [...urls].map((u) => u.replace(/.*\//, "").replace(/[0-9a-f]{16}/, "HASH")).sort();
    expect(names).toEqual(["widget-HASH.js", "widget-HASH.wasm", "widget.css", "widget.js"]);

    // Bytes on the wire, as served (node:http does not decompress).
    const fetchEncoded = (url: string, encoding: string) =>
      new Promise<{ encoding?: string; bytes: number }>((resolve, reject) => {
        get(url, { headers: { "accept-encoding": encoding } }, (res) => {
          let bytes = 0;
          res.on("data", (chunk: Buffer) => (bytes += chunk.length));
          res.on("end", () => resolve({ encoding: res.headers["content-encoding"], bytes }));
        }).on("error", reject);
      });
    const total = { gzip: 0, br: 0 };
    const sizes: Record<string, unknown> = {};
    for (const url of urls) {
      for (const encoding of ["gzip", "br"] as const) {
        const { encoding: got, bytes } = await fetchEncoded(url, encoding);
        expect(got, url).toBe(encoding);
        total[encoding] += bytes;
        sizes[`${url.replace(/.*\//, "")} ${encoding}`] = bytes;
      }
    }
    test.info().annotations.push({ type: "sizes", description: JSON.stringify({ ...sizes, total }) });
    expect(total.gzip).toBeLessThanOrEqual(100_000);
    expect(total.br).toBeLessThan(total.gzip);
  });
});
