import { describe, expect, it } from "vitest";
import { isExactTagSet, listSeriesQuery, parseShowSeriesKey, quoteIdent, quoteRegex, quoteString, selectQuery } from "./influxql.js";

describe("InfluxQL quoting", () => {
  it.each([
    ["plain", "'plain'"],
    ["a' OR '1'='1", "'a\\' OR \\'1\\'=\\'1'"],
    ["back\\slash", "'back\\\\slash'"],
    ["trailing\\", "'trailing\\\\'"],
    ["\\'", "'\\\\\\''"],
    ["new\nline", "'new\\nline'"],
    ['double"quote', "'double\"quote'"],
    ["", "''"],
  ])("quoteString(%j) is %s", (value, quoted) => {
    expect(quoteString(value)).toBe(quoted);
  });

  it.each([
    ["cpu", '"cpu"'],
    ['a"b', '"a\\"b"'],
    ["a\\b", '"a\\\\b"'],
    ["x\ny", '"x\\ny"'],
    ["it's", '"it\'s"'],
  ])("quoteIdent(%j) is %s", (name, quoted) => {
    expect(quoteIdent(name)).toBe(quoted);
  });

  it.each([
    ["^web-\\d+$", "/^web-\\d+$/"],
    ["/var/log", "/\\/var\\/log/"],
    ["a\\/b", "/a\\/b/"],
    ["a\\\\/b", "/a\\\\\\/b/"],
    ["x\ny", "/x\\ny/"],
  ])("quoteRegex(%j) is %s", (source, quoted) => {
    expect(quoteRegex(source)).toBe(quoted);
  });
});

describe("InfluxQL statements", () => {
  it("selects one series per step bucket, grouped by every tag", () => {
    expect(
      selectQuery({ measurement: "disk", field: "used_percent", tags: { path: "/var", host: "web-01" }, retentionPolicy: "autogen", aggregate: "mean", startMs: 1000.7, endMs: 61_000, stepMs: 10_000 }),
    ).toBe(
      `SELECT mean("used_percent") FROM "autogen"."disk" WHERE "host" = 'web-01' AND "path" = '/var' AND time >= 1000ms AND time < 61000ms GROUP BY time(10000ms), * fill(none)`,
    );
  });

  it("lists series and field keys, narrowed by measurement and exact tags", () => {
    expect(listSeriesQuery("disk", { host: "a'b" })).toBe(`SHOW SERIES FROM "disk" WHERE "host" = 'a\\'b'; SHOW FIELD KEYS FROM "disk"`);
    expect(listSeriesQuery(undefined, {})).toBe("SHOW SERIES; SHOW FIELD KEYS");
    expect(listSeriesQuery("m", { k: "x; SHOW FIELD KEYS" }, 5)).toBe(`SHOW SERIES FROM "m" WHERE "k" = 'x; SHOW FIELD KEYS' LIMIT 5; SHOW FIELD KEYS FROM "m"`);
  });

  it.each([
    ["disk,host=a\\ b,path=x\\,y", { measurement: "disk", tags: { host: "a b", path: "x,y" } }],
    ["my\\ m\\,x,k\\=1=v\\=w", { measurement: "my m,x", tags: { "k=1": "v=w" } }],
    // InfluxDB 1.x keeps other backslashes as they came: they are literal.
    ["bs,t=a\\\\b,u=c\\d", { measurement: "bs", tags: { t: "a\\\\b", u: "c\\d" } }],
    ["cpu", { measurement: "cpu", tags: {} }],
    [",k=v", undefined],
    ["m,novalue", undefined],
    ["m,=v", undefined],
  ])("parses the SHOW SERIES key %j", (key, expected) => {
    expect(parseShowSeriesKey(key)).toEqual(expected);
  });

  it("keeps a tag named __proto__ as a tag", () => {
    const parsed = parseShowSeriesKey("m,__proto__=x");
    expect(Object.keys(parsed?.tags ?? {})).toEqual(["__proto__"]);
  });

  it.each([
    [{ host: "a", path: "" }, { host: "a" }, true],
    [{ host: "a", path: "/var" }, { host: "a" }, false],
    [{ host: "a" }, { host: "a", path: "/var" }, false],
    [{ host: "a" }, { host: "b" }, false],
    [{}, {}, true],
  ])("group %j is exactly %j: %s", (group, tags, exact) => {
    expect(isExactTagSet(group, tags)).toBe(exact);
  });
});
