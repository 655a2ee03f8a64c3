// A stand-in for a customer's website: serves end2end/site/*.html on another
// origin than the support-chat server, with `{{API}}` replaced by the
// server's origin. A page may send a Content-Security-Policy header: the
// first line of the page reading `<!-- csp: ... -->` becomes that header.
// `{{API_LIMITED}}` is a second server with a tiny rate limit (for 429s), and
// `/slow.svg?ms=N` answers after N ms (to hold the page's `load` event).
// It is also the team's webhook receiver: `POST /hooks/handoff` checks the
// `Support-Chat-Signature` as the README tells a receiver to (HMAC-SHA256 of
// `<t>.<body>` under SITE_WEBHOOK_SECRET, `t` within five minutes) and keeps
// what came; `GET /hooks/received` lists it.
import { createServer } from "node:http";
import { createHmac, timingSafeEqual } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join, basename } from "node:path";

const port = Number(process.env.SITE_PORT ?? 4000);
const api = process.env.API_ORIGIN ?? "http://127.0.0.1:3000";
const apiLimited = process.env.API_LIMITED_ORIGIN ?? "http://127.0.0.1:3001";
const root = join(import.meta.dirname, "site");
const webhookSecret = process.env.SITE_WEBHOOK_SECRET ?? "";
const received = [];

/** Whether `header` signs `body` (a Buffer) under the secret, recently. */
function verified(header, body) {
  const parts = Object.fromEntries((header ?? "").split(",").map((p) => p.split("=", 2)));
  const t = Number(parts.t);
  if (!Number.isInteger(t) || Math.abs(Date.now() / 1000 - t) > 300 || !parts.v1) return false;
  const expected = createHmac("sha256", webhookSecret).update(`${t}.`).update(body).digest();
  const given = Buffer.from(parts.v1, "hex");
  return given.length === expected.length && timingSafeEqual(given, expected);
}

createServer(async (request, response) => {
  const path = new URL(request.url, "http://site").pathname;
  if (path === "/healthz" || path === "/favicon.ico") {
    response.writeHead(204).end();
    return;
  }
  if (path === "/hooks/handoff" && request.method === "POST") {
    const chunks = [];
    for await (const chunk of request) chunks.push(chunk);
    const body = Buffer.concat(chunks);
    const ok = verified(request.headers["support-chat-signature"], body);
    received.push({ verified: ok, body: JSON.parse(body.toString("utf8")) });
    response.writeHead(ok ? 204 : 401).end();
    return;
  }
  if (path === "/hooks/received") {
    response.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" }).end(JSON.stringify(received));
    return;
  }
  if (path === "/slow.svg") {
    const ms = Number(new URL(request.url, "http://site").searchParams.get("ms") ?? 1000);
    setTimeout(() => {
      response
        .writeHead(200, { "content-type": "image/svg+xml", "cache-control": "no-store" })
        .end('<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>');
    }, ms);
    return;
  }
  const name = basename(path === "/" ? "index.html" : path);
  try {
    const html = (await readFile(join(root, name), "utf8")).replaceAll("{{API_LIMITED}}", apiLimited).replaceAll("{{API}}", api);
    const headers = { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" };
    const csp = html.match(/^<!-- csp: (.*) -->/);
    if (csp) headers["content-security-policy"] = csp[1].replaceAll("{{API}}", api);
    response.writeHead(200, headers).end(html);
  } catch {
    response.writeHead(404, { "content-type": "text/plain" }).end("not found");
  }
}).listen(port, "127.0.0.1", () => console.log(`customer site on http://127.0.0.1:${port}`));
