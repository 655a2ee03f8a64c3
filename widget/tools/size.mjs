// The widget's transfer-size budget: everything a visitor downloads for the
// widget (loader, glue JS, wasm, CSS) must total at most 100 KB gzip.
// Prints raw, gzip and brotli (q11) sizes of each asset as built by
// `make widget`, gzip as the server makes it (Zopfli, five iterations:
// `src/http/assets.rs`); exits non-zero above the budget. Usage:
//   node widget/tools/size.mjs [target/site]
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { brotliCompressSync, constants } from "node:zlib";
import { gzipAsync } from "@gfx/zopfli";

// 100 KB read strictly as 100,000 bytes (not 102,400).
const BUDGET_GZIP = 100_000;
const site = process.argv[2] ?? "target/site";
const files = ["widget.js", "pkg/support_chat_widget.js", "pkg/support_chat_widget_bg.wasm", "widget.css"];

const kb = (n) => (n / 1024).toFixed(1).padStart(6);
let total = { raw: 0, gzip: 0, brotli: 0 };
console.log("| asset | raw | gzip | brotli |\n|---|---:|---:|---:|");
for (const file of files) {
  const bytes = readFileSync(join(site, file));
  const sizes = {
    raw: bytes.length,
    gzip: (await gzipAsync(bytes, { numiterations: 5 })).length,
    brotli: brotliCompressSync(bytes, {
      params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_LGWIN]: 22 },
    }).length,
  };
  for (const k in total) total[k] += sizes[k];
  console.log(`| ${file} | ${sizes.raw} B (${kb(sizes.raw)} KB) | ${sizes.gzip} B (${kb(sizes.gzip)} KB) | ${sizes.brotli} B (${kb(sizes.brotli)} KB) |`);
}
console.log(`| **total** | ${total.raw} B (${kb(total.raw)} KB) | ${total.gzip} B (${kb(total.gzip)} KB) | ${total.brotli} B (${kb(total.brotli)} KB) |`);
if (total.gzip > BUDGET_GZIP) {
  console.error(`widget over budget: ${total.gzip} B gzip > ${BUDGET_GZIP} B (100 KB = 100,000 B)`);
  process.exit(1);
}
console.log(`within budget: ${total.gzip} B gzip <= ${BUDGET_GZIP} B (100 KB = 100,000 B), ${BUDGET_GZIP - total.gzip} B to spare`);
