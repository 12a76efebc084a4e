import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { collectReport } from "../../src/report/collect.js";
import { renderHtml } from "../../src/report/html.js";
import { DAY_MS, filledStore, NOW_MS } from "../../src/report/test-data.js";
import type { Report } from "../../src/report/types.js";
import { requireDebianBinary } from "../support/debian.js";

// The HTML report in a real headless Chromium (Debian's package): it renders, every chart has
// data, nothing is fetched, nothing runs, and a phone-width screen needs no sideways scrolling.

const HOSTILE_PATH = `/srv/<img src=x onerror=alert(1)>"'&x=`;
const HOSTILE_HOST = `web-01<script>alert("pwned")</script>`;

let profileDir: string;
let context: BrowserContext;
let report: Report;
let html: string;

beforeAll(async () => {
  const executablePath = requireDebianBinary("chromium", "chromium");
  const fx = await filledStore({ host: HOSTILE_HOST, fillPath: HOSTILE_PATH, commonName: "<b>bold</b>.example" });
  try {
    report = await collectReport({ store: fx.store, nowMs: NOW_MS, horizonMs: 30 * DAY_MS, historyMs: 14 * DAY_MS, timezone: "Europe/Paris" });
  } finally {
    await fx.close();
  }
  html = await renderHtml(report);
  profileDir = await mkdtemp(path.join(tmpdir(), "ansai-chromium-"));
  context = await chromium.launchPersistentContext(profileDir, {
    executablePath,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}, 120_000);

afterAll(async () => {
  await context?.close();
  if (profileDir) await rm(profileDir, { recursive: true, force: true });
});

interface Loaded {
  page: Page;
  consoleErrors: string[];
  requests: string[];
  dialogs: string[];
}

/** Opens the report with every network request aborted and recorded. */
async function open(width: number): Promise<Loaded> {
  const page = await context.newPage();
  const loaded: Loaded = { page, consoleErrors: [], requests: [], dialogs: [] };
  await page.setViewportSize({ width, height: 800 });
  page.on("console", (m) => {
    if (m.type() === "error") loaded.consoleErrors.push(m.text());
  });
  page.on("pageerror", (e) => loaded.consoleErrors.push(e.message));
  page.on("dialog", (d) => {
    loaded.dialogs.push(d.message());
    void d.dismiss();
  });
  page.on("request", (r) => loaded.requests.push(r.url()));
  await page.route("**/*", (route) => route.abort());
  await page.setContent(html, { waitUntil: "load" });
  return loaded;
}

describe("HTML report in Chromium", () => {
  it("renders every item with a chart that has data, without errors or requests", async () => {
    const { page, consoleErrors, requests, dialogs } = await open(1280);
    try {
      const cards = await page.locator("article.card").count();
      expect(cards).toBe(report.summary.items);
      const charts = await page.locator("figure.chart").evaluateAll((figs) =>
        figs.map((f) => {
          const svg = f.querySelector("svg");
          const paths = svg ? [...svg.querySelectorAll("path")] : [];
          // Line segments of the longest path: the actual series has one per sample.
          const segments = Math.max(0, ...paths.map((p) => (p.getAttribute("d") ?? "").split(/[LC]/).length - 1));
          const box = svg?.getBoundingClientRect();
          return { hasSvg: svg !== null, paths: paths.length, segments, width: box?.width ?? 0, height: box?.height ?? 0 };
        }),
      );
      expect(charts).toHaveLength(report.summary.items);
      for (const c of charts) {
        expect(c.hasSvg).toBe(true);
        expect(c.segments).toBeGreaterThanOrEqual(20);
        expect(c.width).toBeGreaterThan(100);
        expect(c.height).toBeGreaterThan(30);
      }
      expect(consoleErrors).toEqual([]);
      expect(requests).toEqual([]);
      expect(dialogs).toEqual([]);
    } finally {
      await page.close();
    }
  });

  it("shows hostile tag values as text, creating no elements and running nothing", async () => {
    const { page, dialogs } = await open(1280);
    try {
      const text = await page.locator("body").innerText();
      expect(text).toContain(HOSTILE_PATH);
      expect(text).toContain(HOSTILE_HOST);
      expect(text).toContain("<b>bold</b>.example");
      expect(await page.locator("img, script, b").count()).toBe(0);
      expect(dialogs).toEqual([]);
    } finally {
      await page.close();
    }
  });

  it("fits a 375 px phone screen without sideways scrolling", async () => {
    const { page, consoleErrors } = await open(375);
    try {
      // A string: this project's TypeScript has no DOM types; it runs in the page.
      const { scrollWidth, innerWidth, widest } = await page.evaluate<{ scrollWidth: number; innerWidth: number; widest: number }>(`({
        scrollWidth: document.documentElement.scrollWidth,
        innerWidth: window.innerWidth,
        widest: Math.max(...[...document.querySelectorAll("figure.chart svg")].map((s) => s.getBoundingClientRect().right)),
      })`);
      expect(innerWidth).toBe(375);
      expect(scrollWidth).toBeLessThanOrEqual(innerWidth);
      expect(widest).toBeLessThanOrEqual(innerWidth);
      expect(consoleErrors).toEqual([]);
    } finally {
      await page.close();
    }
  });
});
