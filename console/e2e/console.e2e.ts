// The officer console end to end in real Chromium against one local stack (what `make dev` runs):
// a citizen's tip through the Zalo simulator to the unit's officer and back, another unit never
// seeing it, a commander's advisory and its report; at 1366×768 and at a phone's 390×844.
import { randomUUID } from "node:crypto";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { axe, type Guarded, launch, open, shot, sideways, storage } from "./browser";
import { citizenId, CODE, photo, Stack, until } from "./stack";

const HOAN_KIEM = "Công an quận Hoàn Kiếm (demo)";
const TRAFFIC = "Phòng CSGT (demo)";
const PROVINCE = "Công an tỉnh (demo)";
const DESKTOP = { width: 1366, height: 768 };
const PHONE = { width: 390, height: 844 };

const stack = new Stack();
let browser: Browser;
const sessions: Guarded[] = [];
const screenshots: string[] = [];

beforeAll(async () => {
  await stack.start();
  browser = await launch();
});

afterAll(async () => {
  await browser?.close();
  await stack.stop();
});

async function session(viewport: { width: number; height: number }): Promise<Guarded> {
  const guarded = await open(browser, viewport);
  sessions.push(guarded);
  return guarded;
}

/** Every screen: no serious or critical accessibility finding, nothing to scroll sideways, a picture. */
async function screen(page: Page, name: string, fullPage = false): Promise<void> {
  expect(await axe(page), `axe on ${name}`).toEqual([]);
  expect(await sideways(page), `sideways scroll on ${name}`).toBeLessThanOrEqual(0);
  screenshots.push(await shot(page, name, fullPage));
}

it("the stack's ready line names the console's address", () => {
  expect(stack.output).toContain(`console      ${stack.url}/`);
});

async function signIn(page: Page, unitName: string, role: "officer" | "commander", suffix: string, picture: boolean): Promise<void> {
  await page.goto(`${stack.url}/`);
  await page.getByRole("heading", { name: "Đăng nhập" }).waitFor();
  await page.getByRole("button", { name: unitName }).waitFor();
  if (picture) await screen(page, `signin${suffix}`);
  const label = role === "commander" ? "Chỉ huy (toàn tỉnh)" : "Cán bộ trực ban";
  await page.getByRole("button", { name: `${label} ${unitName}` }).click();
  await page.getByRole("heading", { name: "Hộp tin báo" }).waitFor();
}

async function signOut(guarded: Guarded): Promise<void> {
  await guarded.page.getByRole("button", { name: "Đăng xuất" }).click();
  await guarded.page.getByText("Đã đăng xuất").waitFor();
  expect(await storage(guarded)).toEqual({ localStorage: 0, sessionStorage: 0, indexedDB: 0, caches: 0, documentCookies: 0, cookies: 0 });
}

interface Worked {
  code: string;
  tipId: string;
}

/** A citizen writes (text with a canary, then a photo); the unit's officer works the tip in the console. */
async function officerWorksATip(viewport: { width: number; height: number }, suffix: string): Promise<Worked> {
  const officer = await session(viewport);
  const { page } = officer;
  await signIn(page, HOAN_KIEM, "officer", suffix, true);
  await page.evaluate(() => ((window as unknown as { __sameDocument: boolean }).__sameDocument = true));

  const user = citizenId();
  const canary = `canary-${randomUUID().slice(0, 12)}`;
  await stack.says(user, `Có người giả danh công an gọi điện lừa chuyển tiền, mã ${canary}`);
  await stack.sendsImage(user, photo());
  const ack = await until(async () => (await stack.sentTo(user)).find((m) => CODE.test(m.text ?? "")), 60, "the acknowledgement");
  const code = CODE.exec(ack.text!)![1]!;

  // Meanwhile someone else reports a fire: urgent, so it stands out and comes first.
  const caller = citizenId();
  await stack.says(caller, "Cháy nhà ở phố Hàng Bạc, có người mắc kẹt trên tầng 3");
  const urgentAck = await until(async () => (await stack.sentTo(caller)).find((m) => CODE.test(m.text ?? "")), 60, "the urgent acknowledgement");
  const urgentCode = CODE.exec(urgentAck.text!)![1]!;

  // The new tips show without a reload (the inbox polls), with the count of new tips in the tab title.
  const row = page.locator(`a[data-code="${code}"]`);
  await row.waitFor({ timeout: 30_000 });
  const urgentRow = page.locator(`.tip-row.is-urgent a[data-code="${urgentCode}"]`);
  await urgentRow.waitFor({ timeout: 30_000 });
  await expect.poll(() => page.locator(".tip-row a").first().getAttribute("data-code")).toBe(urgentCode);
  expect(await page.evaluate(() => (window as unknown as { __sameDocument?: boolean }).__sameDocument)).toBe(true);
  expect(await page.title()).toMatch(/^\(\d+\) Hộp tin báo/);
  await screen(page, `inbox${suffix}`);
  const tipId = decodeURIComponent((await row.getAttribute("href"))!.split("/").pop()!);

  // Opening asks for the reason first.
  await row.click();
  await page.getByRole("heading", { name: "Lý do mở tin báo" }).waitFor();
  await screen(page, `tip-reason${suffix}`);
  await page.getByRole("button", { name: "Xác minh tin báo" }).click();
  await page.getByRole("button", { name: "Mở tin báo" }).click();
  await page.getByText(canary).waitFor();

  // The photo: through the audited link, once the fetcher has stored it (reload the tip until then).
  const show = page.getByRole("button", { name: "Xem ảnh" });
  await until(
    async () => {
      if (await show.isVisible()) return true;
      await page.getByRole("button", { name: "Tải lại" }).click();
      await page.getByText(canary).waitFor();
      return false;
    },
    60,
    "the stored photo",
  );
  await show.click();
  const image = page.locator("img.thumb");
  await image.waitFor();
  await until(() => image.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth === 160), 30, "the photo to load");

  // The answer goes to the citizen in Zalo, once.
  const answer = `Cảm ơn anh/chị, chúng tôi đang xác minh (${randomUUID().slice(0, 8)}).`;
  await page.getByLabel("Nội dung trả lời").fill(answer);
  await page.getByText(`${[...answer].length}/2000 ký tự`).waitFor();
  await page.getByText(/Zalo cho phép trả lời thêm 6 ngày 23 giờ/).waitFor();
  await page.getByRole("button", { name: "Gửi trả lời" }).click();
  await page.getByText("Đã xếp hàng gửi").waitFor();
  await until(async () => (await stack.sentTo(user)).some((m) => m.text === answer), 60, "the answer in Zalo");
  await page.getByRole("button", { name: "Tải lại" }).click();
  const bubble = page.locator(".bubble-out", { hasText: answer });
  await until(async () => {
    if (/Đã gửi|Đã nhận|Đã xem/.test((await bubble.textContent()) ?? "")) return true;
    await page.getByRole("button", { name: "Tải lại" }).click();
    await page.getByText(canary).waitFor();
    return false;
  }, 60, "the sent mark");
  expect((await stack.sentTo(user)).filter((m) => m.text === answer)).toHaveLength(1);
  await page.getByLabel("Chuyển trạng thái").selectOption("resolved");
  await page.getByText("Đã lưu.").waitFor();
  await page.getByLabel("Thêm nhãn").fill("lừa đảo");
  await page.getByRole("button", { name: "Thêm nhãn" }).click();
  await page.locator(".labels .label", { hasText: "lừa đảo" }).waitFor();
  await screen(page, `tip${suffix}`, true);

  // A sender who harasses the line: blocked on the tip, found among the unit's blocks, lifted there.
  const blockReason = `tin rác lặp lại ${randomUUID().slice(0, 6)}`;
  await page.getByText("Chặn người gửi").click();
  await page.getByLabel("Lý do chặn (VD: quấy rối, tin rác lặp lại)").fill(blockReason);
  await page.getByRole("button", { name: "Chặn", exact: true }).click();
  await page.getByText("Người gửi này đang bị chặn.").waitFor();
  await page.locator("nav").getByRole("link", { name: "Chặn", exact: true }).click();
  const blockRow = page.locator(".block-row", { hasText: blockReason });
  await blockRow.waitFor();
  await screen(page, `blocks${suffix}`);
  await blockRow.getByLabel("Lý do bỏ chặn").fill("đã xác minh, không phải quấy rối");
  await blockRow.getByRole("button", { name: "Bỏ chặn" }).click();
  await page.getByText(/^Đã bỏ chặn/).waitFor();
  await expect.poll(() => page.locator(".block-row", { hasText: blockReason }).count()).toBe(0);
  await signOut(officer);
  return { code, tipId };
}

async function otherUnitNeverSeesIt(worked: Worked): Promise<void> {
  const other = await session(DESKTOP);
  const { page } = other;
  await page.clock.install(); // the page's clock, to let 15 idle minutes pass below
  await signIn(page, TRAFFIC, "officer", "", false);
  await page.getByText(/Cập nhật lúc/).waitFor();
  expect(await page.locator(`a[data-code="${worked.code}"]`).count()).toBe(0);
  await page.getByLabel("Tìm theo mã tin báo").fill(worked.code);
  await page.getByRole("button", { name: "Tìm", exact: true }).click();
  await page.getByText("Không có tin báo nào khớp bộ lọc.").waitFor();
  await page.goto(`${stack.url}/#/tip/${encodeURIComponent(worked.tipId)}`);
  await page.getByLabel("Lý do (bắt buộc, ít nhất 3 ký tự)").fill("thử mở tin của đơn vị khác");
  await page.getByRole("button", { name: "Mở tin báo" }).click();
  await page.getByText("Không tìm thấy (hoặc không thuộc phạm vi của bạn).").waitFor();

  // Left alone for 15 minutes, the console signs out by itself and the browser keeps nothing.
  await page.clock.fastForward("14:00");
  await page.getByRole("heading", { name: "Lý do mở tin báo" }).waitFor();
  await page.clock.fastForward("01:30");
  await page.getByText("Phiên làm việc đã hết").waitFor();
  expect(await storage(other)).toEqual({ localStorage: 0, sessionStorage: 0, indexedDB: 0, caches: 0, documentCookies: 0, cookies: 0 });
}

async function commanderPublishesAnAdvisory(viewport: { width: number; height: number }, suffix: string, worked: Worked): Promise<void> {
  const commander = await session(viewport);
  const { page } = commander;
  await signIn(page, PROVINCE, "commander", suffix, false);
  await page.locator(`a[data-code="${worked.code}"]`).waitFor({ timeout: 30_000 });

  // A citizen asks for advisories ("NHẬN TIN"): the one the audience will reach through Zalo.
  const subscriber = citizenId();
  await stack.says(subscriber, "NHẬN TIN");
  await until(async () => (await stack.sentTo(subscriber)).length > 0, 60, "the answer to NHẬN TIN");

  await page.locator("nav").getByRole("link", { name: "Cảnh báo" }).click();
  await page.getByRole("link", { name: "Soạn cảnh báo" }).click();
  const title = `Cảnh báo lừa đảo giả danh công an ${randomUUID().slice(0, 6)}`;
  await page.getByLabel("Tiêu đề").fill(title);
  await page.getByLabel("Nội dung", { exact: true }).fill(
    "Công an không bao giờ gọi điện yêu cầu chuyển tiền hay cung cấp mã OTP. Nếu nhận cuộc gọi như vậy, hãy gác máy và báo cho công an phường.",
  );
  await page.getByLabel("Liên kết (không bắt buộc)").fill("https://congan.example.vn/canh-bao");
  await page.getByLabel("Tên liên kết").fill("Xem hướng dẫn");
  await page.getByLabel(HOAN_KIEM).check();
  await page.locator(".zalo-bubble", { hasText: title }).waitFor();
  await screen(page, `advisory-compose${suffix}`, true);
  await page.getByRole("button", { name: "Phát hành" }).click();
  await page.getByRole("heading", { name: title }).waitFor();
  const advisoryId = decodeURIComponent(page.url().split("/").pop()!);

  // The scheduler's next run, now; then the report as bars (the page refreshes it by itself).
  await stack.runSchedule("AdvisoriesFunction");
  const token = await stack.token("province", "commander");
  await until(
    async () => {
      const detail = await stack.api<{ report: { oas: { pending: number; targeted: number }[] }[] }>(token, `/v1/advisories/${advisoryId}`);
      const oas = detail.report.flatMap((run) => run.oas);
      return oas.length > 0 && oas.every((oa) => oa.targeted > 0 && oa.pending === 0);
    },
    90,
    "the advisory's run to be delivered",
  );
  await until(async () => (await stack.sentTo(subscriber)).some((m) => m.text?.startsWith(title)), 60, "the advisory in the subscriber's Zalo");
  await page.locator(".run-oa").first().waitFor({ timeout: 30_000 });
  await page.locator(".run-oa .legend li", { hasText: "Đang chờ: 0" }).first().waitFor({ timeout: 30_000 });
  await expect.poll(() => page.locator(".run-oa .stacked .seg").count()).toBeGreaterThan(0);
  await screen(page, `advisory-report${suffix}`, true);

  await page.locator("nav").getByRole("link", { name: "Cảnh báo" }).click();
  await page.getByRole("link", { name: new RegExp(title) }).waitFor();
  await screen(page, `advisories${suffix}`);

  await page.locator("nav").getByRole("link", { name: "Thống kê" }).click();
  await page.getByRole("heading", { name: "Tin báo mỗi ngày (14 ngày, giờ Việt Nam)" }).waitFor();
  await screen(page, `stats${suffix}`, true);

  await page.locator("nav").getByRole("link", { name: "Nhật ký" }).click();
  await page.getByLabel("Đơn vị").selectOption({ label: HOAN_KIEM });
  await page.getByRole("button", { name: "Xem" }).click();
  await page.locator(".audit-row", { hasText: "officer@pc02-hoan-kiem" }).filter({ hasText: "Xác minh tin báo" }).first().waitFor();
  await screen(page, `audit${suffix}`);

  await signOut(commander);
  await screen(page, `signed-out${suffix}`);
}

describe("the officer console in Chromium", () => {
  let desktop: Worked;

  it("an officer gets a citizen's tip without a reload, opens it with a reason, sees text and photo, answers once (1366×768)", async () => {
    desktop = await officerWorksATip(DESKTOP, "");
  });

  it("another unit's officer never sees it; 15 idle minutes sign them out", async () => {
    await otherUnitNeverSeesIt(desktop);
  });

  it("a commander publishes an advisory and reads its report; statistics and audit (1366×768)", async () => {
    await commanderPublishesAnAdvisory(DESKTOP, "", desktop);
  });

  it("the same on a phone (390×844), nothing to scroll sideways", async () => {
    const phone = await officerWorksATip(PHONE, "-phone");
    await commanderPublishesAnAdvisory(PHONE, "-phone", phone);
  });

  it("no request left for another origin and no CSP violation, on any page", () => {
    expect(sessions.length).toBeGreaterThan(0);
    expect(sessions.flatMap((s) => s.foreign)).toEqual([]);
    expect(sessions.flatMap((s) => s.csp)).toEqual([]);
    expect(sessions.flatMap((s) => s.errors)).toEqual([]);
    expect(screenshots.length).toBeGreaterThanOrEqual(18);
  });
});
