import { describe, expect, it } from "vitest";
import { etaText } from "./status.js";

const NOW = 1_700_000_000_000;
const DAY = 86_400_000;

describe("etaText", () => {
  it.each([
    [{ etaMs: NOW + 2 * DAY + 3_600_000, confidence: 0.9 }, "in 2 d 1 h"],
    [{ etaMs: NOW + 364 * DAY, confidence: 0.9 }, "in 364 d"],
    [{ etaMs: NOW + 342_495 * DAY, confidence: 0.5 }, "beyond a year"],
    [{ etaMs: null, confidence: 0 }, "learning: needs more history"],
    [{ etaMs: null, confidence: 0.5 }, "not trending there"],
  ])("%o → %s", (p, text) => {
    expect(etaText(p, NOW)).toBe(text);
  });
});
