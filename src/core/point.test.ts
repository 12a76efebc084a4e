import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseSeriesKey, seriesKey } from "./point.js";

describe("series keys", () => {
  it("sorts tags and escapes like line protocol", () => {
    expect(seriesKey("disk", { path: "/var log", host: "web,01" }, "used_percent")).toBe("disk,host=web\\,01,path=/var\\ log used_percent");
  });

  it.each(["", "cpu", "cpu ", " x", "cpu,host x", "cpu,=a x"])("rejects %j", (key) => expect(parseSeriesKey(key)).toBeUndefined());

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
