import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type ParseOptions, parsePrometheusText, parseValue, type Sample } from "./prometheus-text.js";

const FIXTURES = new URL("../../../test/fixtures/prometheus/", import.meta.url).pathname;

/** Expected output as JSON: numbers, or "NaN" / "+Inf" / "-Inf", which JSON cannot hold. */
interface Expected {
  options?: ParseOptions;
  samples: Array<Omit<Sample, "value"> & { value: number | string }>;
  help?: Record<string, string>;
  types?: Record<string, string>;
  errors: Array<{ line: number; message: string }>;
}

const jsonValue = (v: number): number | string => (Number.isNaN(v) ? "NaN" : v === Infinity ? "+Inf" : v === -Infinity ? "-Inf" : v);

const cases = readdirSync(FIXTURES)
  .filter((f) => f.endsWith(".prom"))
  .map((f) => f.slice(0, -".prom".length));

describe("parsePrometheusText fixtures", () => {
  it("has fixtures", () => expect(cases.length).toBeGreaterThanOrEqual(6));

  it.each(cases)("%s", (name) => {
    const text = readFileSync(join(FIXTURES, `${name}.prom`), "utf8");
    const want = JSON.parse(readFileSync(join(FIXTURES, `${name}.json`), "utf8")) as Expected;
    const got = parsePrometheusText(text, want.options);
    expect(got.samples.map((s) => ({ ...s, value: jsonValue(s.value) }))).toEqual(want.samples);
    expect(got.errors).toEqual(want.errors);
    if (want.help !== undefined) expect(Object.fromEntries(got.help)).toEqual(want.help);
    if (want.types !== undefined) expect(Object.fromEntries(got.types)).toEqual(want.types);
  });
});

describe("parsePrometheusText line handling", () => {
  it.each([
    ["CRLF line ends", "a 1\r\nb{x=\"y\"} 2\r\n", [["a", 1], ["b", 2]]],
    ["no final newline", "a 1\nb 2", [["a", 1], ["b", 2]]],
    ["blank and whitespace-only lines", "\n   \n\ta 1\n\n", [["a", 1]]],
    ["empty input", "", []],
  ])("%s", (_what, text, want) => {
    const got = parsePrometheusText(text);
    expect(got.errors).toEqual([]);
    expect(got.samples.map((s) => [s.name, s.value])).toEqual(want);
  });

  it("a bad line in the middle of many leaves the rest intact", () => {
    const lines = Array.from({ length: 100 }, (_, i) => `m{i="${i}"} ${i}`);
    lines[50] = "m{i=50} 50";
    const got = parsePrometheusText(lines.join("\n"));
    expect(got.samples).toHaveLength(99);
    expect(got.errors).toEqual([{ line: 51, message: "expected a quoted value for label i" }]);
  });
});

describe("parseValue", () => {
  it.each([
    ["1", 1],
    ["-1.5e3", -1500],
    ["+Inf", Infinity],
    ["-inf", -Infinity],
    ["Infinity", Infinity],
    ["nan", Number.NaN],
    ["1e400", Infinity],
    ["", undefined],
    ["abc", undefined],
    ["1,5", undefined],
  ])("%j", (token, want) => expect(parseValue(token)).toBe(want));
});

// Text built from the characters that drive the scanner's branches.
const hostileText = fc.string({ unit: fc.constantFrom(..."ab_:1 .{}=\",\\#\n\r\te+-NaInf"), maxLength: 300 });

const labelName = fc.stringMatching(/^[a-zA-Z_][a-zA-Z0-9_]{0,8}$/);
const metricName = fc.stringMatching(/^[a-zA-Z_:][a-zA-Z0-9_:]{0,12}$/);
const labelValue = fc.string({ maxLength: 12 });
const escape = (v: string): string => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");

describe("parsePrometheusText properties", () => {
  it("never throws on arbitrary text, and every line is either a sample, skipped, or an error", () => {
    fc.assert(
      fc.property(hostileText, (text) => {
        const got = parsePrometheusText(text);
        const lines = text.split("\n").length;
        expect(got.samples.length + got.errors.length).toBeLessThanOrEqual(lines);
      }),
      { numRuns: 2000 },
    );
  });

  it("round-trips samples written in the format", () => {
    const sample = fc.record({
      name: metricName,
      labels: fc.dictionary(labelName, labelValue, { maxKeys: 4 }),
      value: fc.oneof(fc.double(), fc.integer(), fc.constantFrom(-0, Number.NaN, Infinity, -Infinity)),
      timestampMs: fc.option(fc.integer({ min: -1e12, max: 4e12 }), { nil: undefined }),
    });
    fc.assert(
      fc.property(fc.array(sample, { maxLength: 20 }), (samples) => {
        const text = samples
          .map((s) => {
            const labels = Object.entries(s.labels).map(([k, v]) => `${k}="${escape(v)}"`);
            // String(-0) is "0"; the format can say "-0" and the parser must keep the sign.
            const value = Object.is(s.value, -0) ? "-0" : String(jsonValue(s.value));
            const ts = s.timestampMs === undefined ? "" : ` ${s.timestampMs}`;
            return `${s.name}{${labels.join(",")}} ${value}${ts}\n`;
          })
          .join("");
        const got = parsePrometheusText(text);
        expect(got.errors).toEqual([]);
        expect(got.samples.map((s) => ({ name: s.name, labels: s.labels, value: s.value, timestampMs: s.timestampMs }))).toEqual(
          samples.map((s) => ({ ...s, labels: { ...s.labels } })),
        );
      }),
      { numRuns: 500 },
    );
  });
});

describe("parsePrometheusText hostile labels", () => {
  it("keeps a label named __proto__ as data", () => {
    const [s] = parsePrometheusText('m{__proto__="x",constructor="y"} 1\n').samples;
    expect(Object.keys(s?.labels ?? {})).toEqual(["__proto__", "constructor"]);
    expect(s?.labels.__proto__).toBe("x");
  });
});
