import { describe, expect, it } from "vitest";
import { formatValue } from "./format.js";

describe("formatValue", () => {
  it.each([
    [93.14, "used_percent", "93.1%"],
    [1536, "memory_rss", "1.5 KiB"],
    [2.5 * 2 ** 30, "memory_limit", "2.5 GiB"],
    [512, "used", "512 B"],
    [42, undefined, "42"],
    [3.14159, undefined, "3.14"],
    [12345.6, "load1", "12346"],
    [Number.NaN, "used_percent", "NaN"],
  ])("%d (%s) is %s", (v, field, text) => expect(formatValue(v, field)).toBe(text));
});
