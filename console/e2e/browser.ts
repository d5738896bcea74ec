// Debian's Chromium driven by playwright-core (no browser download), with guards every test shares:
// a request to any origin but the local stack's loopback ones, or a CSP violation, fails the test.
import { readFileSync, mkdirSync, existsSync } from "node:fs";
import { createRequire } from "node:module";
import { resolve } from "node:path";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { ROOT } from "./stack";

export const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
// Screenshots of every screen: under build/ on every run (ignored by git); `make console-screenshots`
// writes them to docs/console/, where docs/console.md and the README show them.
export const SHOTS = resolve(ROOT, process.env.CONSOLE_SHOTS ?? "build/console-shots");
const AXE = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

export async function launch(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no Chromium at ${CHROMIUM}: run \`make chromium\` (as root: apt-get install chromium)`);
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      "--disable-quic",
    ],
  });
}

export interface Guarded {
  context: BrowserContext;
  page: Page;
  foreign: string[];
  csp: string[];
  errors: string[];
}

/** A fresh browser profile (context) with its guards. */
export async function open(browser: Browser, viewport: { width: number; height: number }): Promise<Guarded> {
  const context = await browser.newContext({ viewport, locale: "vi-VN", timezoneId: "Asia/Ho_Chi_Minh", deviceScaleFactor: 1 });
  const guarded: Guarded = { context, page: await context.newPage(), foreign: [], csp: [], errors: [] };
  context.on("request", (request) => {
    const url = new URL(request.url());
    if (!["http:", "https:", "ws:", "wss:"].includes(url.protocol)) return; // data:, blob:, about:
    if (url.hostname !== "127.0.0.1") guarded.foreign.push(request.url());
  });
  context.on("page", (page) => watch(page, guarded));
  watch(guarded.page, guarded);
  return guarded;
}

function watch(page: Page, guarded: Guarded): void {
  page.on("console", (message) => {
    const text = message.text();
    if (/Content Security Policy|Refused to (load|execute|apply|connect|frame)/i.test(text)) guarded.csp.push(text);
  });
  page.on("pageerror", (error) => guarded.errors.push(String(error)));
  page.on("dialog", (dialog) => void dialog.accept());
}

export interface AxeFinding {
  id: string;
  impact: string;
  help: string;
  nodes: string[];
}

/** axe-core (from node_modules) on the page as it is: serious and critical findings. */
export async function axe(page: Page): Promise<AxeFinding[]> {
  await page.evaluate(`(() => { ${AXE}\n; return true })()`);
  return page.evaluate(async () => {
    const run = (window as unknown as { axe: { run: (ctx: Document, opts: object) => Promise<{ violations: { id: string; impact: string; help: string; nodes: { target: string[] }[] }[] }> } }).axe;
    const result = await run.run(document, { resultTypes: ["violations"] });
    return result.violations
      .filter((v) => v.impact === "serious" || v.impact === "critical")
      .map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(" ")) }));
  });
}

export async function shot(page: Page, name: string, fullPage = false): Promise<string> {
  mkdirSync(SHOTS, { recursive: true });
  const path = resolve(SHOTS, `${name}.png`);
  await page.screenshot({ path, fullPage, animations: "disabled" });
  return path;
}

/** The page is no wider than the window: nothing to scroll sideways. */
export async function sideways(page: Page): Promise<number> {
  return page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
}

export async function storage(guarded: Guarded): Promise<Record<string, number>> {
  const inPage = await guarded.page.evaluate(async () => ({
    localStorage: localStorage.length,
    sessionStorage: sessionStorage.length,
    indexedDB: (await indexedDB.databases()).length,
    caches: (await caches.keys()).length,
    documentCookies: document.cookie.length,
  }));
  return { ...inPage, cookies: (await guarded.context.cookies()).length };
}
