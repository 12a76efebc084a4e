import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Point } from "../../core/point.js";
import { createSeriesCache, formatLineProtocol, MAX_TIME_MS, parseLineProtocol, type ParseOptions, type Precision } from "./line-protocol.js";

const FIXTURES = join(import.meta.dirname, "../../../test/fixtures/line-protocol");
const NS: ParseOptions = { precision: "ns", defaultTimeMs: 1000 };

function roundTrip(p: Point): Point | undefined {
  const back = parseLineProtocol(formatLineProtocol([p]), { precision: "ms", defaultTimeMs: -7 });
  expect(back.errors).toEqual([]);
  return back.points[0];
}

describe("fixtures (test/fixtures/line-protocol/*.lp → *.json, precision ns, default time 1000 ms)", () => {
  const names = readdirSync(FIXTURES).filter((f) => f.endsWith(".lp"));
  it("has the corpus", () => {
    expect(names).toEqual(expect.arrayContaining(["telegraf.lp", "escapes.lp", "numbers.lp", "errors.lp", "hostile.lp", "crlf.lp", "big-values.lp"]));
  });
  it.each(names)("%s", (name) => {
    const input = readFileSync(join(FIXTURES, name), "utf8");
    const expected: unknown = JSON.parse(readFileSync(join(FIXTURES, name.replace(/\.lp$/, ".json")), "utf8"));
    const got = parseLineProtocol(input, NS);
    expect(got).toEqual(expected);
    for (const p of got.points) expect(roundTrip(p)).toEqual(p);
  });
});

describe("timestamps to ms (floor)", () => {
  // One instant, 2023-11-14T22:13:20.123456789Z, in every precision, plus the edges of floor and range.
  const cases: Array<[Precision, string, number | "error"]> = [
    ["ns", "1700000000123456789", 1_700_000_000_123],
    ["us", "1700000000123456", 1_700_000_000_123],
    ["ms", "1700000000123", 1_700_000_000_123],
    ["s", "1700000000", 1_700_000_000_000],
    ["m", "28333333", 1_699_999_980_000],
    ["h", "472222", 1_699_999_200_000],
    ["ns", "999999", 0],
    ["ns", "1000000", 1],
    ["ns", "-1", -1],
    ["ns", "-1000000", -1],
    ["ns", "-1000001", -2],
    ["ns", "0", 0],
    ["ns", "-0", 0],
    ["ns", "000000000001000000", 1],
    ["us", "999", 0],
    ["us", "-1", -1],
    ["us", "-1000", -1],
    ["ms", "-5", -5],
    ["s", "-1", -1000],
    ["m", "1", 60_000],
    ["h", "-1", -3_600_000],
    ["ns", "9223372036854775807", 9_223_372_036_854],
    ["ns", "-9223372036854000000", -MAX_TIME_MS],
    ["ns", "-9223372036854000001", "error"],
    ["ns", "-9223372036854775808", "error"],
    ["ns", "9223372036854775808", "error"],
    ["ns", "99999999999999999999", "error"],
    ["us", "9223372036854775", 9_223_372_036_854],
    ["us", "9223372036855000", "error"],
    ["ms", "9223372036854", MAX_TIME_MS],
    ["ms", "9223372036855", "error"],
    ["s", "9223372036", 9_223_372_036_000],
    ["s", "9223372037", "error"],
    ["h", "2562047", 9_223_369_200_000],
    ["h", "2562048", "error"],
  ];
  it.each(cases)("%s %s → %s", (precision, ts, expected) => {
    const got = parseLineProtocol(`m v=1 ${ts}`, { precision, defaultTimeMs: 42 });
    if (expected === "error") {
      expect(got.points).toEqual([]);
      expect(got.errors[0]).toMatchObject({ line: 1, column: 7, message: expect.stringContaining("timestamp out of range") });
    } else {
      expect(got.errors).toEqual([]);
      expect(got.points[0]?.timeMs).toBe(expected);
    }
  });

  it("uses defaultTimeMs when the timestamp is missing, also with trailing spaces", () => {
    const got = parseLineProtocol("m v=1\nm v=2   \r\nm v=3 5000000", { precision: "ns", defaultTimeMs: 42 });
    expect(got.points.map((p) => p.timeMs)).toEqual([42, 42, 5]);
  });
});

describe("lines, recovery and positions", () => {
  const cases: Array<[string, string, number, Array<[number, number]>]> = [
    ["an unterminated string does not swallow the next lines", 'm f="abc\nm v=1\nm v=2', 2, [[1, 5]]],
    ["a string may span lines; line numbers count them", 'm s="a\nb\nc"\nbad\nm v=1', 2, [[4, 4]]],
    ["comments, blank lines, CRLF", "# c\r\n\r\n \t \r\nm v=1\r\n  # c2\r\nm v=2", 2, []],
    ["a line that is only a carriage return is blank", "\r\nm v=1\r", 1, []],
    ["an error after a multi-line string resumes at the next physical line", 'm f="a\nm v=1" x\nm v=2', 1, [[1, 15], [2, 6]]],
    ["no trailing newline", "m v=1", 1, []],
    ["empty input", "", 0, []],
  ];
  it.each(cases)("%s", (_name, input, pointCount, errorAt) => {
    const got = parseLineProtocol(input, NS);
    expect(got.points).toHaveLength(pointCount);
    expect(got.errors.map((e) => [e.line, e.column])).toEqual(errorAt);
  });

  it("cuts the error text to 200 characters and drops the CR of a CRLF", () => {
    const got = parseLineProtocol(`${"x".repeat(300)}\r\nshort\r\n`, NS);
    expect(got.errors.map((e) => e.text)).toEqual(["x".repeat(200), "short"]);
  });

  it("keeps __proto__ as an ordinary tag, leaving prototypes alone", () => {
    const got = parseLineProtocol("m,__proto__=x __proto__=1", NS);
    const p = got.points[0] as Point;
    expect(Object.getPrototypeOf(p.tags)).toBe(Object.prototype);
    expect(Object.hasOwn(p.tags, "__proto__") && p.tags.__proto__).toBe("x");
    expect(Object.hasOwn(p.fields, "__proto__")).toBe(true);
  });

  it("gives points of one series one frozen tags object, and each measurement its own", () => {
    const got = parseLineProtocol("m,host=a,x=1 v=1\nn,host=a,x=1 v=1\nm,host=a,x=1 v=2\nm,host=a\\ b v=1\nm,host=a\\ b v=2\nm v=1\nn v=1\nm v=2", NS);
    const [a1, n1, a2, s1, s2, e1, e2, e3] = got.points as Point[];
    expect(a1?.tags).toBe(a2?.tags);
    expect(Object.isFrozen(a1?.tags)).toBe(true);
    expect(n1?.tags).not.toBe(a1?.tags);
    expect(n1?.tags).toEqual(a1?.tags);
    expect([e1?.tags, e2?.tags, e3?.tags]).toEqual([{}, {}, {}]);
    expect(e1?.tags).toBe(e3?.tags);
    expect(e2?.tags).not.toBe(e1?.tags);
    // A section with an escaped space is parsed every time: still right, just not shared.
    expect([s1?.tags, s2?.tags]).toEqual([{ host: "a b" }, { host: "a b" }]);
  });

  it("duplicate field keys: the last value wins, as in InfluxDB", () => {
    expect(parseLineProtocol("m v=1,v=2", NS).points[0]?.fields).toEqual({ v: 2 });
  });
});

describe("series cache", () => {
  const body = "cpu,host=a,cpu=cpu0 user=1,idle=2 1\nmem,host=a used=3i 1\ncpu,host=a,cpu=cpu0 user=4,idle=5 2\nnotags v=1 1\n";

  it("gives a series the same measurement and tags objects across parses, and the same points as without it", () => {
    const cache = createSeriesCache();
    const first = parseLineProtocol(body, { ...NS, seriesCache: cache });
    const second = parseLineProtocol(body, { ...NS, seriesCache: cache });
    expect(first).toEqual(parseLineProtocol(body, NS));
    expect(second).toEqual(first);
    for (const [i, p] of second.points.entries()) {
      expect(p.tags).toBe(first.points[i]?.tags);
      expect(p.measurement).toBe(first.points[i]?.measurement);
      expect(Object.isFrozen(p.tags)).toBe(true);
    }
    expect(cache.heads.size).toBe(3);
  });

  it("starts over when full", () => {
    const cache = createSeriesCache(2);
    const opts = { ...NS, seriesCache: cache };
    const [a1, b1] = parseLineProtocol("a v=1\nb v=1", opts).points;
    const [a2, b2] = parseLineProtocol("a v=2\nb v=2", opts).points;
    expect([a2?.tags, b2?.tags]).toEqual([a1?.tags, b1?.tags]);
    expect(a2?.tags).toBe(a1?.tags);
    expect(b2?.tags).toBe(b1?.tags);
    parseLineProtocol("c v=1", opts);
    expect(cache.heads.size).toBe(1);
    const a3 = parseLineProtocol("a v=3", opts).points[0];
    expect(a3?.tags).toEqual(a1?.tags);
    expect(a3?.tags).not.toBe(a1?.tags);
  });

  it("checks cached series again under other tag limits", () => {
    const cache = createSeriesCache();
    const line = "m,a=1,b=2,c=3 v=1";
    expect(parseLineProtocol(line, { ...NS, seriesCache: cache }).points).toHaveLength(1);
    const tighter = parseLineProtocol(line, { ...NS, seriesCache: cache, limits: { maxTagsPerPoint: 2 } });
    expect(tighter.errors).toEqual([expect.objectContaining({ message: "more than 2 tags", kind: "limit" })]);
    const shorter = parseLineProtocol(line, { ...NS, seriesCache: cache, limits: { maxTagValueBytes: 0 } });
    expect(shorter.errors).toEqual([expect.objectContaining({ kind: "limit" })]);
  });

  it("keeps __proto__ tags and escapes as they parse without it", () => {
    const cache = createSeriesCache();
    const text = String.raw`m\,x,__proto__=p,k\=1=v\,2 f=1` + "\n" + String.raw`m\,x,__proto__=p,k\=1=v\,2 f=2`;
    parseLineProtocol(text, { ...NS, seriesCache: cache });
    const got = parseLineProtocol(text, { ...NS, seriesCache: cache });
    expect(got).toEqual(parseLineProtocol(text, NS));
    expect(cache.heads.size).toBe(1);
    expect(got.points[0]?.measurement).toBe("m,x");
    const tags = got.points[0]?.tags ?? {};
    expect(Object.getPrototypeOf(tags)).toBe(Object.prototype);
    expect(Object.hasOwn(tags, "__proto__")).toBe(true);
  });
});

describe("numbers", () => {
  // The fast path (an exact integer mantissa below 2^53 over an exact power of ten) must agree with
  // Number() to the last bit, up to and past its edges; longer inputs go through Number() itself.
  const digits = fc.string({ unit: fc.constantFrom(..."0123456789".split("")), minLength: 1, maxLength: 24 });
  const decimal = fc.tuple(fc.boolean(), digits, fc.nat({ max: 26 })).map(([neg, ds, at]) => {
    const dot = Math.min(at, ds.length);
    return `${neg ? "-" : ""}${ds.slice(0, dot)}.${ds.slice(dot)}`.replace(/\.$/, "");
  });
  const edges = ["9007199254740991", "9007199254740992", "9007199254740993", "9.007199254740993", "900719925474099.3", "0.9007199254740993",
    "1.2345678901234567", "8.999999999999999", "0.0000000000000000000001", "0.00000000000000000000001", "4.35", "0.1", "-0", "-0.0"];

  it.each(edges)("%s", (text) => {
    expect(Object.is(parseLineProtocol(`m v=${text}`, NS).points[0]?.fields.v, Number(text))).toBe(true);
  });

  it("parses any decimal exactly as Number() does", () => {
    fc.assert(
      fc.property(decimal, (text) => {
        fc.pre(text !== "" && text !== "-" && text !== "." && text !== "-.");
        expect(Object.is(parseLineProtocol(`m v=${text}`, NS).points[0]?.fields.v, Number(text))).toBe(true);
      }),
      { numRuns: 5000 },
    );
  });
});

describe("limits", () => {
  const cases: Array<[string, string, ParseOptions["limits"], string | undefined]> = [
    ["line at the limit", "m v=1", { maxLineBytes: 5 }, undefined],
    ["line past the limit", "m v=12", { maxLineBytes: 5 }, "line is longer than the limit of 5 bytes"],
    ["line limit counts UTF-8 bytes", "é v=1", { maxLineBytes: 5 }, "line is longer than the limit of 5 bytes"],
    ["line limit ignores the line end", "m v=1\r\n", { maxLineBytes: 5 }, undefined],
    ["a bad line past the limit reports the limit", "m v=xx", { maxLineBytes: 5 }, "line is longer than the limit of 5 bytes"],
    ["tags at the limit", "m,a=1,b=2 v=1", { maxTagsPerPoint: 2 }, undefined],
    ["tags past the limit", "m,a=1,b=2,c=3 v=1", { maxTagsPerPoint: 2 }, "more than 2 tags"],
    ["tag value at the limit", "m,a=xxx v=1", { maxTagValueBytes: 3 }, undefined],
    ["tag value past the limit", "m,a=xxxx v=1", { maxTagValueBytes: 3 }, 'value of tag "a" is longer than the limit of 3 bytes'],
    ["tag value limit counts UTF-8 bytes after unescaping", "m,a=\\ é v=1", { maxTagValueBytes: 3 }, undefined],
    ["tag value limit counts UTF-8 bytes", "m,a=éé v=1", { maxTagValueBytes: 3 }, 'value of tag "a" is longer than the limit of 3 bytes'],
  ];
  it.each(cases)("%s", (_name, input, limits, message) => {
    const got = parseLineProtocol(input, { ...NS, limits });
    if (message === undefined) {
      expect(got.errors).toEqual([]);
      expect(got.points).toHaveLength(1);
    } else {
      expect(got.points).toEqual([]);
      expect(got.errors).toEqual([expect.objectContaining({ message, kind: "limit" })]);
    }
  });
});

describe("formatLineProtocol", () => {
  const at = (fields: Point["fields"], tags: Point["tags"] = {}, measurement = "m", timeMs = 5): Point => ({ measurement, tags, fields, timeMs });

  it("writes ms, sorted tags, escapes, floats without i, quoted strings, booleans", () => {
    const text = formatLineProtocol([
      at({ f: 1.5, i: 42, s: 'a"b\\c', b: false, z: -0 }, { z: "1", "a b": "c,d=e", empty: "" }, "m e,a=x"),
      at({ v: 1e21 }, {}, "n", -3),
    ]);
    expect(text).toBe('m\\ e\\,a=x,a\\ b=c\\,d\\=e,z=1 f=1.5,i=42,s="a\\"b\\\\c",b=false,z=-0 5\nn v=1e+21 -3\n');
  });

  const unrepresentable: Array<[string, Point]> = [
    ["an empty measurement", at({ v: 1 }, {}, "")],
    ["a measurement starting with #", at({ v: 1 }, {}, "#m")],
    ["a newline in a tag value", at({ v: 1 }, { t: "a\nb" })],
    ["a newline in a field key", at({ "a\nb": 1 })],
    ["an empty tag key", at({ v: 1 }, { "": "x" })],
    ["no fields", at({})],
    ["NaN", at({ v: Number.NaN })],
    ["Infinity", at({ v: Number.POSITIVE_INFINITY })],
    ["a fractional time", at({ v: 1 }, {}, "m", 1.5)],
    ["a time out of range", at({ v: 1 }, {}, "m", MAX_TIME_MS + 1)],
  ];
  it.each(unrepresentable)("throws RangeError for %s", (_name, p) => {
    expect(() => formatLineProtocol([p])).toThrow(RangeError);
  });
});

describe("properties (fast-check)", () => {
  const special = fc.constantFrom(",", "=", " ", "\\", '"', "#", "\t", "\r", "é", "🚀", "\u0000", "\ud800");
  const unit = fc.oneof(special, fc.string({ unit: "binary", minLength: 1, maxLength: 1 }));
  const name = fc.string({ unit, minLength: 1, maxLength: 12 }).filter((s) => !s.includes("\n"));
  const fieldValue = fc.oneof(
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.integer(),
    fc.string({ unit: fc.oneof(unit, fc.constant("\n")), maxLength: 20 }),
    fc.boolean(),
  );
  const point: fc.Arbitrary<Point> = fc.record({
    measurement: name.filter((s) => !s.startsWith("#")),
    tags: fc.dictionary(name, name, { maxKeys: 5, noNullPrototype: true }),
    fields: fc.dictionary(name, fieldValue, { minKeys: 1, maxKeys: 5, noNullPrototype: true }),
    timeMs: fc.bigInt({ min: BigInt(-MAX_TIME_MS), max: BigInt(MAX_TIME_MS) }).map(Number),
  });

  it("parse(format(points)) returns the points unchanged", () => {
    fc.assert(
      fc.property(fc.array(point, { maxLength: 5 }), (points) => {
        const got = parseLineProtocol(formatLineProtocol(points), { precision: "ms", defaultTimeMs: -7 });
        expect(got.errors).toEqual([]);
        expect(got.points).toEqual(points);
      }),
      { numRuns: 500 },
    );
  });

  // Random text checks the scanner; valid lines with a few random edits reach deep into the
  // grammar and are often still accepted (about a third), which is what "no accepted garbage" needs.
  const lpAlphabet = fc.constantFrom(..."m,= \\\"\n\r\t#0123456789.-+eEiutfTFrsa".split(""), "é", "🚀", "true", "FALSE");
  const edit = fc.record({ at: fc.nat(), remove: fc.nat({ max: 2 }), insert: fc.string({ unit: fc.oneof(special, fc.constantFrom("\n", "i", "u", "e", "-", ".", "0", "t")), maxLength: 2 }) });
  const mutated = fc.tuple(point, fc.array(edit, { minLength: 1, maxLength: 3 })).map(([p, edits]) => {
    let line = formatLineProtocol([p]);
    for (const e of edits) {
      const at = e.at % (line.length + 1);
      line = line.slice(0, at) + e.insert + line.slice(at + e.remove);
    }
    return line;
  });
  const garbage = fc.oneof(fc.string({ unit: lpAlphabet, maxLength: 80 }), fc.string({ unit: "binary", maxLength: 80 }), mutated);

  it("never throws on garbage, and every accepted point round-trips", () => {
    fc.assert(
      fc.property(garbage, fc.constantFrom<Precision>("ns", "us", "ms", "s", "m", "h"), (text, precision) => {
        const got = parseLineProtocol(text, { precision, defaultTimeMs: 0 });
        for (const e of got.errors) {
          expect(e.line).toBeGreaterThanOrEqual(1);
          expect(e.column).toBeGreaterThanOrEqual(1);
          expect(e.text.length).toBeLessThanOrEqual(200);
        }
        for (const p of got.points) expect(roundTrip(p)).toEqual(p);
      }),
      { numRuns: 3000 },
    );
  });

  it("parses a body as it parses its lines one by one: the caches are invisible", () => {
    // Garbage without quotes: a stray quote may legally open a string that a later line closes.
    const line = fc.oneof(point.map((p) => formatLineProtocol([p]).slice(0, -1)), garbage.filter((g) => !g.includes('"')));
    fc.assert(
      fc.property(fc.array(line, { maxLength: 6 }), fc.array(fc.nat(), { maxLength: 20 }), (pool, picks) => {
        // Picking from a small pool repeats lines, as series repeat in real bodies.
        const lines = pool.length === 0 ? [] : picks.map((i) => pool[i % pool.length] as string);
        const whole = parseLineProtocol(lines.join("\n"), NS).points;
        const oneByOne = lines.flatMap((l) => parseLineProtocol(l, NS).points);
        expect(whole).toEqual(oneByOne);
      }),
      { numRuns: 1000 },
    );
  });

  it("accepts exactly one point or one error per line of valid points mixed with garbage lines", () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(point.map((p) => formatLineProtocol([p]).slice(0, -1)), fc.constant("bad line")), { maxLength: 8 }), (lines) => {
        // Strings with newlines span several physical lines; count logical lines instead.
        const got = parseLineProtocol(lines.join("\n"), NS);
        expect(got.points.length).toBe(lines.filter((l) => l !== "bad line").length);
        expect(got.errors.length).toBe(lines.length - got.points.length);
      }),
      { numRuns: 300 },
    );
  });
});
