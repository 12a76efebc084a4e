import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createBatchDecoder, createBatchEncoder, decodeBatch, type SharedHeads } from "./columnar.js";
import { createFastLinesState, parseColumnar } from "./fast-lines.js";
import { DEFAULT_LINE_PROTOCOL_LIMITS, parseLineProtocol, type LineProtocolLimits, type Precision } from "./line-protocol.js";

/** One worker's state and the main thread's decoder, as the parse pool pairs them. */
function columnarParser(maxEntries = 1 << 17) {
  const state = createFastLinesState(createBatchEncoder(maxEntries));
  const decoder = createBatchDecoder();
  const shared: SharedHeads = { byKey: new Map(), maxEntries: 1 << 16 };
  let jobId = 0;
  const parse = (text: string, precision: Precision = "ns", limits: Partial<LineProtocolLimits> = {}) => {
    const batch = parseColumnar(state, Buffer.from(text, "utf8"), { jobId: ++jobId, precision, defaultTimeMs: 42, limits: { ...DEFAULT_LINE_PROTOCOL_LIMITS, ...limits } });
    return { points: decodeBatch(decoder, shared, batch), errors: batch.errors };
  };
  return Object.assign(parse, { fastLines: () => state.fastLines });
}

const expected = (text: string, precision: Precision = "ns", limits: Partial<LineProtocolLimits> = {}) =>
  parseLineProtocol(Buffer.from(text, "utf8").toString("utf8"), { precision, defaultTimeMs: 42, limits });

const BODIES: Array<[string, string]> = [
  ["plain lines, twice the same series", "cpu,host=a usage=1.5,idle=98.5 1700000000000000000\ncpu,host=a usage=2,idle=98 1700000010000000000\n"],
  ["no timestamp, CRLF, blank lines, comments", "m,t=1 v=1\r\n\n# note\nm,t=1 v=2\r\nm,t=1 v=3"],
  ["long mantissas and exponents", "m v=12.345678901234567,w=1e3,x=-2.5E-7,y=123456789012345678901234,z=0.1000000000000000055511151231257827 1\nm v=0.30000000000000004,w=1e+3,x=1e400,y=1,z=2 2\nm v=1,w=1e,x=1,y=1,z=1 3"],
  ["integers, negatives, dots", "m v=-1i,w=.5,x=-.25,y=1.,z=-0i 1\nm v=2i,w=1,x=2,y=3,z=-0 2\nm v=3i,w=1,x=2,y=3,z=4 3"],
  ["booleans and strings among numbers", 'm,h=a b=t,s="x y",n=1 1\nm,h=a b=false,s="multi\nline",n=2 2\nm,h=a b=t,s="",n=3 3'],
  ["field order changes and duplicate keys", "m,h=a x=1,y=2 1\nm,h=a y=3,x=4 2\nm,h=a x=1,x=5 3\nm,h=a x=1,y=2 4"],
  ["integer-like field keys", "m 2=1,b=2,1=3 1\nm 2=4,b=5,1=6 2\nm 1=7,2=8,b=9 3"],
  ["escapes and __proto__", "m\\ x,t\\,1=a\\ b __proto__=1,y=2 1\nm\\ x,t\\,1=a\\ b __proto__=3,y=4 2\nm,__proto__=x v=1 1\nm,__proto__=x v=2 2"],
  ["bad lines among good ones", "m,h=a v=1 1\nm,h=a v=oops 2\nm,h=a v=1 3 4\nm,h=a v=1e3 5\nm,h=a v=18446744073709551615u 6\nm,h=a v=99999999999999999999i 7\nm,h=a v=1 -5\nm,h=a  v=1 8\nm,h=a v=1  9\nm,h=a v=1 9 \n"],
  ["timestamps at the edges", "m v=1 9223372036854775807\nm v=1 9223372036854775808\nm v=1 000000000000000001\nm v=1 -1\nm v=1 99999999999999999999"],
  ["tabs, leading spaces, non-ASCII", "\tm v=1 1\n  m v=1 2\nmé,ü=ß v=1 3\nmé,ü=ß v=2 4\n\u00a0 v=1 5"],
  ["a head of more than 1024 characters", `m,t=${"x".repeat(1100)} v=1 1\nm,t=${"x".repeat(1100)} v=2 2\n`],
  ["a quote in a tag and an unterminated string", 'm,t="q" v=1 1\nm,t="q" v=2 2\nm v="open 3\nm v=1 4'],
];

describe("parseColumnar + decodeBatch", () => {
  it.each(BODIES)("%s: the same points and errors as parseLineProtocol", (_name, body) => {
    const parse = columnarParser();
    // Twice: the second pass takes the fast path where the first learnt the series.
    for (let i = 0; i < 2; i++) expect(parse(body)).toEqual(expected(body));
  });

  it("reads known series on the fast path", () => {
    const parse = columnarParser();
    const body = "cpu,host=a usage=1.5,idle=98.5 1\ncpu,host=a usage=2,idle=98 2\ncpu,host=a usage=2,idle=98\n";
    parse(body);
    expect(parse.fastLines()).toBe(2);
    parse(body);
    expect(parse.fastLines()).toBe(5);
  });

  it.each([["ns"], ["us"], ["ms"], ["s"], ["m"], ["h"]] as Array<[Precision]>)("precision %s", (precision) => {
    const parse = columnarParser();
    const body = "m,h=a v=1 1700000000123456789\nm,h=a v=2 1700000000123456789\nm,h=a v=3 17\nm,h=a v=3 0\n";
    for (let i = 0; i < 2; i++) expect(parse(body, precision)).toEqual(expected(body, precision));
  });

  it("applies the line and tag limits on the fast path too", () => {
    const parse = columnarParser();
    const limits = { maxLineBytes: 20, maxTagsPerPoint: 1, maxTagValueBytes: 3 };
    const body = "m,h=a v=1 1\nm,h=a v=1,w=2,x=3,y=4 2\nm,h=abcd v=1 3\nm,h=a,i=b v=1 4\n";
    expect(parse(body)).toEqual(expected(body));
    expect(parse(body, "ns", limits)).toEqual(expected(body, "ns", limits));
  });

  it("keeps one frozen tags object per series across bodies", () => {
    const parse = columnarParser();
    const a = parse("m,h=a v=1 1\nm,h=a v=2 2\n").points;
    const b = parse("m,h=a v=3 3\n").points;
    expect(Object.isFrozen(a[0]?.tags)).toBe(true);
    expect(a[1]?.tags).toBe(a[0]?.tags);
    expect(b[0]?.tags).toBe(a[0]?.tags);
  });

  it("starts over when it has seen more series than it keeps, and stays right", () => {
    const parse = columnarParser(64);
    for (let round = 0; round < 3; round++) {
      const body = Array.from({ length: 50 }, (_, i) => `m,h=h${(i * 7 + round) % 90} v=${i},w=${round} ${i}`).join("\n");
      expect(parse(body)).toEqual(expected(body));
    }
  });

  it("agrees with parseLineProtocol on generated bodies", () => {
    const token = fc.constantFrom("m", "cpu", "h=a", "h=b", "t=1", " ", ",", "=", "v", "w", "1", "-", ".", "5", "i", "u", "e", "t", '"', "\\", "\n", "\r\n", "#", "\t", "é", "17000", "000");
    const line = fc.oneof(
      fc.array(token, { maxLength: 20 }).map((t) => t.join("")),
      fc.record({ h: fc.constantFrom("m", "m,h=a", "cpu,h=b,t=1"), f: fc.array(fc.tuple(fc.constantFrom("v", "w", "x"), fc.constantFrom("1", "-2.5", "3i", ".5", "t", '"s"', "1e2", "-12.345678901234567", "1E-2", "1e999")), { minLength: 1, maxLength: 3 }), ts: fc.constantFrom("", " 1", " 17000000000", " -1", "  1") })
        .map(({ h, f, ts }) => `${h} ${f.map(([k, v]) => `${k}=${v}`).join(",")}${ts}`),
    );
    fc.assert(
      fc.property(fc.array(line, { maxLength: 12 }), fc.constantFrom<Precision>("ns", "ms", "s"), (lines, precision) => {
        const parse = columnarParser();
        const body = lines.join("\n");
        for (let i = 0; i < 2; i++) expect(parse(body, precision)).toEqual(expected(body, precision));
      }),
      { numRuns: 400 },
    );
  });
});
