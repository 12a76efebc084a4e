import { describe, expect, it } from "vitest";
import { formatDuration, parseDurationMs } from "./duration.js";

describe("parseDurationMs", () => {
  it.each([
    ["500ms", 500],
    ["15s", 15_000],
    ["5m", 300_000],
    ["4h", 14_400_000],
    ["14d", 1_209_600_000],
    ["1w", 604_800_000],
    ["1h30m", 5_400_000],
    ["1.5s", 1_500],
  ])("%s is %d ms", (text, ms) => expect(parseDurationMs(text)).toBe(ms));

  it.each(["", "5", "5 min", "m5", "-5s", "5s junk", "1h 30m"])("rejects %j", (text) =>
    expect(parseDurationMs(text)).toBeUndefined(),
  );
});

describe("formatDuration", () => {
  it.each([
    [45_000, "45 s"],
    [11_400_000, "3 h 10 m"],
    [3_600_000, "1 h"],
    [792_000_000, "9 d 4 h"],
    [90_061_000, "1 d 1 h"],
    [61_000, "1 m 1 s"],
  ])("%d ms is %s", (ms, text) => expect(formatDuration(ms)).toBe(text));
});
