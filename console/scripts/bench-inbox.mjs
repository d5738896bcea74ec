// Time, in Debian's Chromium, from navigation to the first inbox page on screen, for a signed-in
// officer (the token put in sessionStorage as the console keeps it). Prints one JSON line.
// Usage: node scripts/bench-inbox.mjs URL TOKEN RUNS
import { chromium } from "playwright-core";

const [url, token, runs = "5"] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
});
const times = [];
let rows = 0;
for (let i = 0; i < Number(runs); i++) {
  const context = await browser.newContext({ viewport: { width: 1366, height: 768 } }); // cold cache each run
  const session = JSON.stringify({ token, expiresAtMs: Date.now() + 3_600_000, lastActiveMs: Date.now() });
  await context.addInitScript((value) => sessionStorage.setItem("tipline.session", value), session);
  const page = await context.newPage();
  const started = performance.now();
  await page.goto(url);
  await page.locator(".tip-row").first().waitFor({ timeout: 60_000 });
  times.push(performance.now() - started);
  rows = await page.locator(".tip-row").count();
  await context.close();
}
await browser.close();
console.log(JSON.stringify({ times, rows }));
