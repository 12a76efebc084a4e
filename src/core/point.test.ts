import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ownString, parseSeriesKey, seriesKey } from "./point.js";

describe("series keys", () => {
  it("sorts tags and escapes like line protocol", () => {
    expect(seriesKey("disk", { path: "/var log", host: "web,01" }, "used_percent")).toBe("disk,host=web\\,01,path=/var\\ log used_percent");
  });

  it.each(["", "cpu", "cpu ", " x", "cpu,host x", "cpu,=a x"])("rejects %j", (key) => expect(parseSeriesKey(key)).toBeUndefined());

  it("keeps a tag named __proto__ as a tag", () => {
    const tags = Object.fromEntries([["__proto__", "x"]]) as Record<string, string>;
    expect(parseSeriesKey(seriesKey("m", tags, "f"))?.tags).toEqual(tags);
  });

  it("round-trips any measurement, tags and field", () => {
    const text = fc.string({ minLength: 1, maxLength: 12 });
    fc.assert(
      fc.property(text, fc.dictionary(text, fc.string({ maxLength: 12 }), { maxKeys: 4 }), text, (m, tags, field) => {
        const key = seriesKey(m, tags, field);
        const parsed = parseSeriesKey(key);
        expect(parsed).toEqual({ key, measurement: m, tags, field });
      }),
    );
  });
});

describe("ownString", () => {
  it("copies any string unchanged, lone surrogates included", () => {
    fc.assert(fc.property(fc.string({ unit: "binary" }), (s) => ownString(s) === s), { numRuns: 500 });
    expect(ownString("\ud800x\udc00🚀")).toBe("\ud800x\udc00🚀");
  });
});
