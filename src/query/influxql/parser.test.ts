import { describe, expect, it } from "vitest";
import { parseInfluxQL } from "./parser.js";

const TF = "time >= 1700000000000ms and time <= 1700003600000ms";

describe("parseInfluxQL", () => {
  it.each([
    `SELECT mean("usage_idle") FROM "cpu" WHERE ("host" =~ /^(a|b)$/) AND ${TF} GROUP BY time(10s), "host" fill(null)`,
    `SELECT max("v") AS "peak", min(v), last(v), count(v), sum(v), first(v) FROM "db"."autogen"."m" WHERE ${TF} GROUP BY time(1m) fill(none)`,
    `SELECT mean(v) FROM "db".."m" WHERE time >= now() - 6h GROUP BY time(1h30m) fill(previous)`,
    `SELECT mean(v) FROM m WHERE time > now() - 1d and time <= now() GROUP BY time(5m), * fill(linear)`,
    `SELECT mean(v) FROM m WHERE time >= '2026-01-01T00:00:00Z' GROUP BY time(1m) fill(0)`,
    `SELECT mean(v) FROM m WHERE ${TF} GROUP BY time(1m) fill(-1.5) ORDER BY time DESC LIMIT 10 OFFSET 2 SLIMIT 3 SOFFSET 1`,
    `SELECT "a", "b" FROM m WHERE "host" != 'x' AND "path" !~ /^\\/var/ AND "f" > 0 AND "g"::field <= -2 AND "t"::tag = 'y'`,
    `SELECT last("f") FROM m WHERE ("h" = 'a' OR "h" = 'b') AND (f >= 1.5 OR f < 0) GROUP BY "host", path`,
    "SHOW MEASUREMENTS",
    "SHOW MEASUREMENTS WITH MEASUREMENT =~ /^ansai_/ LIMIT 5",
    "SHOW MEASUREMENTS ON ansai WITH MEASUREMENT = cpu",
    'SHOW TAG KEYS FROM "disk"',
    "SHOW TAG KEYS",
    'SHOW TAG VALUES WITH KEY = "host"',
    `SHOW TAG VALUES FROM "disk" WITH KEY = "path" WHERE "host" =~ /^(a|b)$/`,
    'SHOW FIELD KEYS FROM "cpu"',
    "SHOW DATABASES",
    "SHOW RETENTION POLICIES ON ansai",
    "select mean(v) from m; show databases;",
    "SELECT mean(v) /* block */ FROM m -- line comment\n WHERE time > 0",
  ])("parses %s", (q) => {
    expect(parseInfluxQL(q).length).toBeGreaterThan(0);
  });

  it("builds the tree Grafana's queries need", () => {
    const [s] = parseInfluxQL(`SELECT mean("v") AS "m" FROM "m" WHERE "host" =~ /a\\/b/ AND time > 5ms GROUP BY time(10s), "host" fill(0) LIMIT 3`);
    expect(s).toMatchObject({
      kind: "select",
      fields: [{ expr: { type: "call", name: "mean", args: [{ type: "ref", name: "v" }] }, alias: "m" }],
      source: { measurement: "m" },
      groupBy: { intervalNs: 10_000_000_000n, tags: ["host"], allTags: false },
      fill: { kind: "number", value: 0 },
      limit: 3,
      where: { type: "binary", op: "AND", lhs: { op: "=~", rhs: { type: "regex", source: "a/b" } }, rhs: { op: ">", rhs: { type: "duration", ns: 5_000_000n } } },
    });
  });

  it("keeps AND tighter than OR", () => {
    const [s] = parseInfluxQL(`SELECT v FROM m WHERE a = 'x' OR b = 'y' AND c = 'z'`);
    expect(s).toMatchObject({ where: { op: "OR", rhs: { op: "AND" } } });
  });

  // Errors worded and placed as InfluxDB 1.x words them (checked against influxd 1.6). Two differ on
  // purpose: `WITH KEY IN (...)` is outside ANSAI's subset, and a bad time() argument fails at parse time.
  it.each([
    ["SELECT", "error parsing query: found EOF, expected identifier, string, number, bool at line 1, char 8"],
    ["SELECT mean(v) FRM cpu", "error parsing query: found FRM, expected FROM at line 1, char 16"],
    ["SELECT mean(v) FROM", "error parsing query: found EOF, expected identifier at line 1, char 21"],
    ["SELECT mean(v) FROM cpu;\nSELECT mean(x) FRM cpu", "error parsing query: found FRM, expected FROM at line 2, char 16"],
    ["SELECT mean(x) FROM cpu WHERE a = 'b", "error parsing query: found b, expected identifier, string, number, bool at line 1, char 34"],
    [`SELECT mean(x) FROM cpu WHERE "a" =~ 5`, "error parsing query: found 5, expected regex at line 1, char 38"],
    [`SELECT mean(x) FROM cpu WHERE "a" =~ /abc`, "error parsing query: bad regex:  at line 1, char 37"],
    ["SELECT mean(v) FROM m GROUP BY time(1m) fill(foo)", "error parsing query: expected number argument in fill()"],
    ["SHOW TAG VALUES", "error parsing query: found EOF, expected WITH at line 1, char 17"],
    ["SHOW TAG VALUES WITH KEY IN (a)", "error parsing query: found IN, expected =, !=, =~, !~ at line 1, char 26"],
    ["DROP DATABASE ansai", "error parsing query: found DROP, expected SELECT, DELETE, SHOW, CREATE, DROP, EXPLAIN, GRANT, REVOKE, ALTER, SET, KILL at line 1, char 1"],
    ["SELECT v FROM m extra", "error parsing query: found extra, expected ; at line 1, char 17"],
    ["SELECT v FROM m LIMIT x", "error parsing query: found x, expected integer at line 1, char 23"],
    ["SELECT mean(v) FROM m GROUP BY time(v)", "error parsing query: time dimension must have duration argument"],
    ["SELECT v FROM m ORDER BY host", "error parsing query: only ORDER BY time supported at this time"],
  ])("refuses %j", (q, message) => {
    expect(() => parseInfluxQL(q)).toThrow(message);
  });

  it("keeps hostile text inside literals", () => {
    const [s] = parseInfluxQL(`SELECT v FROM "m'; DROP TABLE points; --" WHERE "k\\"ey" = 'x\\' OR 1=1 --' AND h =~ /'); DROP TABLE series; --/`);
    expect(s).toMatchObject({
      source: { measurement: "m'; DROP TABLE points; --" },
      where: { lhs: { lhs: { name: 'k"ey' }, rhs: { value: "x' OR 1=1 --" } }, rhs: { rhs: { source: "'); DROP TABLE series; --" } } },
    });
  });
});
