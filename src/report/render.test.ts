import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { collectReport } from "./collect.js";
import { escapeHtml, renderHtml } from "./html.js";
import { escapeMarkdown, renderMarkdown } from "./markdown.js";
import { formatDateRange } from "./recommend.js";
import { renderJson } from "./render.js";
import { DAY_MS, filledStore, NOW_MS, type Fixture } from "./test-data.js";
import type { Report } from "./types.js";

const HOSTILE = `<img src=x onerror=alert(1)>|**x**`;
let fx: Fixture;
let report: Report;

beforeAll(async () => {
  fx = await filledStore({ host: `evil"<script>alert(1)</script>`, fillPath: `/data/${HOSTILE}`, commonName: "[link](http://attacker.example)" });
  report = await collectReport({ store: fx.store, nowMs: NOW_MS, horizonMs: 30 * DAY_MS, historyMs: 14 * DAY_MS, timezone: "UTC" });
});
afterAll(async () => {
  await fx.close();
});

describe("markdown", () => {
  it("has the summary, a row per item and each recommendation", () => {
    const md = renderMarkdown(report);
    expect(md).toMatch(/^# Capacity report 2026-01-05 07:00 \(UTC\)$/m);
    expect(md).toContain("2 warning");
    const rows = md.split("\n").filter((l) => l.startsWith("| ") && !l.startsWith("| Status"));
    expect(rows).toHaveLength(report.summary.items);
    expect(md).toContain("full around 2026-01-26");
    expect(md).toContain("worker (pid 4242): ");
  });

  it("makes hostile tag values inert: no HTML, no links, no broken table", () => {
    const md = renderMarkdown(report);
    expect(md).not.toContain("<img");
    expect(md).not.toContain("<script");
    expect(md).not.toMatch(/(?<!\\)\]\(http/);
    expect(md).toContain("\\[link\\](http://attacker.example)");
    expect(md).toContain("&lt;img src=x onerror=alert(1)&gt;\\|\\*\\*x\\*\\*");
    // Every table row still has exactly 6 cells: the pipe in the path is escaped.
    for (const row of md.split("\n").filter((l) => l.startsWith("| "))) {
      expect(row.split(/(?<!\\)\|/).length - 2).toBe(6);
    }
  });

  it.each([
    ["a|b", "a\\|b"],
    ["line\nbreak", "line break"],
    ["<b>", "&lt;b&gt;"],
    ["_x_", "\\_x\\_"],
  ])("escapes %j", (input, want) => {
    expect(escapeMarkdown(input)).toBe(want);
  });
});

describe("json", () => {
  it("is the report, versioned, with ISO times beside ms", () => {
    const parsed = JSON.parse(renderJson(report)) as Report;
    expect(parsed.schema).toBe(1);
    expect(parsed).toEqual(report);
    const disk = parsed.hosts[0]!.items.find((i) => i.kind === "disk" && i.target.startsWith("/data"))!;
    expect(new Date(disk.exhaustion!.at).getTime()).toBe(disk.exhaustion!.atMs);
    expect(disk.tags.path).toBe(`/data/${HOSTILE}`);
  });
});

describe("html (as text; the browser test is in test/integration)", () => {
  it("escapes every hostile value and makes no external reference", async () => {
    const html = await renderHtml(report);
    expect(html).not.toContain("<script");
    expect(html).not.toContain("<img");
    expect(html).toContain(escapeHtml(`/data/${HOSTILE}`));
    expect(html).not.toMatch(/\b(?:src|href)=["']?(?:https?:)?\/\//i);
    expect(html.match(/<svg /g)?.length).toBe(report.summary.items);
  });
});

describe("date ranges", () => {
  const d = (m: number, day: number, y = 2026): number => Date.UTC(y, m - 1, day, 12);
  it.each([
    [d(12, 12), d(12, 19), "12–19 Dec"],
    [d(11, 28), d(12, 3), "28 Nov – 3 Dec"],
    [d(12, 28), d(1, 3, 2027), "28 Dec 2026 – 3 Jan 2027"],
    [d(12, 12), null, "12 Dec or later"],
    [d(12, 12), d(12, 12), "12 Dec"],
  ])("%s..%s → %s", (low, high, want) => {
    expect(formatDateRange(low, high, "UTC")).toBe(want);
  });

  it("uses the time zone", () => {
    // 23:30 UTC on 31 Dec is already 1 Jan in Paris.
    expect(formatDateRange(Date.UTC(2026, 11, 31, 23, 30), null, "Europe/Paris")).toBe("1 Jan or later");
  });
});
