import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateFleet } from "../support/fleet-data.js";
import { diffAnswers, hasRows, runQueryBothWays, sortRowsWithinTime, startAnsaiQuery, startInfluxd, writeInfluxd, type AnsaiQuery, type Influxd, type QueryParams } from "../support/influxql.js";

// The same generated fleet in a real InfluxDB 1.x and in ANSAI's embedded store; every construct of
// the InfluxQL subset (docs: /query) must answer identically, and with data.
const END_MS = Math.floor(Date.now() / 60_000) * 60_000 - 10 * 60_000;
const S = END_MS - 2 * 3_600_000;
const TF = `time >= ${S}ms and time <= ${END_MS}ms`;
const ISO_S = new Date(S).toISOString();

interface Case {
  name: string;
  q: string;
  params?: QueryParams;
  /** Raw rows of several series: InfluxDB orders rows of one timestamp arbitrarily. */
  ties?: boolean;
}

const ms: QueryParams = { epoch: "ms" };

const cases: Case[] = [
  // What the dashboards send: $timeFilter, $__interval and multi-value template variables expanded.
  { name: "mean per host, regex host filter, fill(null)", q: `SELECT mean("usage_idle") FROM "cpu" WHERE ("host" =~ /^(web-01|web-02)$/) AND ${TF} GROUP BY time(1m), "host" fill(null)`, params: ms },
  { name: "same without epoch: RFC3339 times", q: `SELECT mean("usage_idle") FROM "cpu" WHERE ("host" =~ /^(web-01|web-02)$/) AND ${TF} GROUP BY time(5m), "host" fill(null)` },
  { name: "GROUP BY time(10s) over the range", q: `SELECT mean("used_percent") FROM "mem" WHERE "host" = 'web-02' AND ${TF} GROUP BY time(10s) fill(null)`, params: ms },
  { name: "max per host and path, fill(none)", q: `SELECT max("used_percent") FROM "disk" WHERE ${TF} GROUP BY time(5m), "host", "path" fill(none)`, params: ms },
  { name: "every aggregate, alias, fill(0)", q: `SELECT min("used_percent"), max("used_percent") AS "peak", count("used_percent"), sum("available"), last("used_percent"), mean("available") FROM "mem" WHERE ${TF} GROUP BY time(10m) fill(0)`, params: ms },
  { name: "duplicate column names", q: `SELECT mean("usage_idle"), mean("usage_user") FROM "cpu" WHERE ${TF} GROUP BY time(15m)`, params: ms },
  { name: "fill(previous) over the gap", q: `SELECT mean("usage_user") FROM "cpu" WHERE "host" = 'web-02' AND ${TF} GROUP BY time(2m) fill(previous)`, params: ms },
  { name: "fill(linear) over the gap", q: `SELECT mean("usage_user") FROM "cpu" WHERE "host" = 'web-02' AND ${TF} GROUP BY time(2m) fill(linear)`, params: ms },
  { name: "count fills empty buckets with 0", q: `SELECT count("usage_user") FROM "cpu" WHERE "host" = 'web-02' AND ${TF} GROUP BY time(5m) fill(null)`, params: ms },
  { name: "GROUP BY * with fill(none)", q: `SELECT mean("memory_rss") FROM "procstat" WHERE ${TF} GROUP BY time(10m), * fill(none)`, params: ms },
  { name: "last() per tag without time()", q: `SELECT last("eta_s") FROM "ansai_prediction" WHERE "eta_s" > 0 AND ${TF} GROUP BY "host", "path", "rule"`, params: ms },
  { name: "last() per tag, no epoch", q: `SELECT last("state") FROM "ansai_alert" WHERE ${TF} GROUP BY "host", "rule", "severity"` },
  { name: "now()-relative range, last per tag", q: `SELECT last("state") FROM "ansai_alert" WHERE time >= now() - 6h GROUP BY "host", "rule"`, params: ms },
  { name: "now()-relative buckets to now()", q: `SELECT mean("used_percent") FROM "mem" WHERE time >= now() - 6h and time <= now() GROUP BY time(10m), "host" fill(null)`, params: ms },
  { name: "single selector: time of the point", q: `SELECT max("usage_idle") FROM "cpu" WHERE "host" = 'db-01' AND ${TF}`, params: ms },
  { name: "aggregates without time(): range start", q: `SELECT mean("usage_idle"), count("usage_idle") FROM "cpu" WHERE time > ${S}ms AND time < ${END_MS}ms` },
  { name: "mean of points across hosts", q: `SELECT mean("used_percent") FROM "disk" WHERE ${TF} GROUP BY time(30m)`, params: ms },
  { name: "raw fields, ORDER BY time DESC, LIMIT", q: `SELECT "usage_idle", "usage_user" FROM "cpu" WHERE "host" = 'web-01' AND ${TF} ORDER BY time DESC LIMIT 20`, params: ms },
  { name: "raw rows of several series, merged by time", q: `SELECT "eta_s", "confidence" FROM "ansai_prediction" WHERE time >= ${END_MS - 30 * 60_000}ms AND ${TF}`, ties: true },
  { name: "raw GROUP BY tag with LIMIT and OFFSET", q: `SELECT "used_percent" FROM "disk" WHERE ${TF} GROUP BY "host", "path" LIMIT 5 OFFSET 3`, params: ms },
  { name: "count and mean of fields present in part of the range, fill(none)", q: `SELECT count("eta_s"), mean("confidence") FROM "ansai_prediction" WHERE ${TF} GROUP BY time(30m), "host" fill(none)`, params: ms },
  { name: "count and mean of fields present in part of the range, fill(null)", q: `SELECT count("eta_s"), mean("confidence") FROM "ansai_prediction" WHERE ${TF} GROUP BY time(30m), "host" fill(null)`, params: ms },
  { name: "multi-line query with comments", q: `SELECT mean("usage_idle")\n  FROM "cpu" -- the total\n  WHERE ${TF}\n  GROUP BY time(1h)`, params: ms },
  { name: "field condition on another field", q: `SELECT mean("usage_user") FROM "cpu" WHERE "usage_idle" < 60 AND ${TF} GROUP BY time(30m), "host" fill(none)`, params: ms },
  { name: "OR and parentheses on tags, !=", q: `SELECT mean("used_percent") FROM "disk" WHERE ("host" = 'web-01' OR "host" = 'db-01') AND "path" != '/' AND ${TF} GROUP BY time(20m), "host" fill(null)`, params: ms },
  { name: "!~ regex", q: `SELECT last("used_percent") FROM "disk" WHERE "host" !~ /^web/ AND ${TF} GROUP BY "path"`, params: ms },
  { name: "SLIMIT and SOFFSET", q: `SELECT mean("usage_idle") FROM "cpu" WHERE ${TF} GROUP BY time(30m), "host" SLIMIT 2 SOFFSET 1`, params: ms },
  { name: "time as a string", q: `SELECT mean("usage_idle") FROM "cpu" WHERE time >= '${ISO_S}' AND time <= now() GROUP BY time(1h), "host"`, params: ms },
  { name: "db.rp.measurement", q: `SELECT mean("expiry") FROM "ansai"."autogen"."x509_cert" WHERE ${TF} GROUP BY time(1h), "common_name"`, params: ms },
  { name: "epoch=s", q: `SELECT mean("expiry") FROM "x509_cert" WHERE ${TF} GROUP BY time(1h)`, params: { epoch: "s" } },
  { name: "epoch=u", q: `SELECT sum("memory_rss") FROM "procstat" WHERE ${TF} GROUP BY time(1h)`, params: { epoch: "u" } },
  { name: "epoch=ns", q: `SELECT min("memory_rss") FROM "procstat" WHERE ${TF} GROUP BY time(1h)`, params: { epoch: "ns" } },
  { name: "two statements", q: `SELECT last("used_percent") FROM "mem" WHERE ${TF} GROUP BY "host"; SELECT count("expiry") FROM "x509_cert" WHERE ${TF}`, params: ms },
  { name: "SHOW MEASUREMENTS", q: "SHOW MEASUREMENTS" },
  { name: "SHOW MEASUREMENTS WITH regex and LIMIT", q: "SHOW MEASUREMENTS WITH MEASUREMENT =~ /^ansai_/ LIMIT 1" },
  { name: "SHOW TAG KEYS", q: "SHOW TAG KEYS" },
  { name: "SHOW TAG KEYS FROM", q: 'SHOW TAG KEYS FROM "disk"' },
  { name: "SHOW TAG VALUES WITH KEY", q: 'SHOW TAG VALUES WITH KEY = "host"' },
  { name: "SHOW TAG VALUES FROM with WHERE regex", q: 'SHOW TAG VALUES FROM "disk" WITH KEY = "path" WHERE "host" =~ /^(web-01|db-01)$/' },
  { name: "SHOW TAG VALUES WITH KEY =~", q: 'SHOW TAG VALUES FROM "procstat" WITH KEY =~ /^(process_name|pid)$/' },
  { name: "SHOW FIELD KEYS", q: "SHOW FIELD KEYS" },
  { name: "SHOW FIELD KEYS FROM", q: 'SHOW FIELD KEYS FROM "ansai_prediction"' },
  { name: "SHOW DATABASES", q: "SHOW DATABASES" },
  { name: "SHOW RETENTION POLICIES", q: "SHOW RETENTION POLICIES" },
];

/** Answers that must match but hold no rows: errors and empty results, worded as InfluxDB words them. */
const emptyCases: Case[] = [
  { name: "parse error with position", q: `SELECT mean("usage_idle") FRM "cpu"` },
  { name: "parse error in the second statement", q: `SELECT mean("usage_idle") FROM "cpu";\nSELECT mean(usage_idle) FROM cpu WHERE host = 'a` },
  { name: "parse error at EOF", q: "SELECT" },
  { name: "parse error on line 2", q: `SELECT mean("usage_idle") FROM "cpu";\nSELECT mean(x) FRM cpu` },
  { name: "unterminated regex", q: `SELECT mean(x) FROM cpu WHERE "a" =~ /abc` },
  { name: "not a regex after =~", q: `SELECT mean(x) FROM cpu WHERE "a" =~ 5` },
  { name: "SHOW TAG VALUES without WITH", q: "SHOW TAG VALUES" },
  { name: "bad fill", q: `SELECT mean("usage_idle") FROM "cpu" WHERE ${TF} GROUP BY time(1m) fill(foo)` },
  { name: "unknown measurement", q: `SELECT mean("x") FROM "nothere" WHERE ${TF}` },
  { name: "GROUP BY time() without aggregate", q: `SELECT "usage_idle" FROM "cpu" WHERE ${TF} GROUP BY time(1m)` },
  { name: "undefined function", q: `SELECT foo("usage_idle") FROM "cpu" WHERE ${TF}` },
  { name: "max-select-buckets", q: `SELECT mean("usage_idle") FROM "cpu" WHERE time >= now() - 30d GROUP BY time(10s)` },
  { name: "missing q", q: "" },
];

describe("InfluxQL /query: ANSAI against InfluxDB 1.x on the same data", () => {
  let influxd: Influxd;
  let ansai: AnsaiQuery;

  beforeAll(async () => {
    const points = generateFleet({ endMs: END_MS });
    influxd = await startInfluxd();
    ansai = await startAnsaiQuery(points);
    await writeInfluxd(influxd.url, points);
  }, 120_000);

  afterAll(async () => {
    await ansai?.close();
    await influxd?.stop();
  });

  it.each(cases)("$name", async ({ q, params, ties }) => {
    const both = await runQueryBothWays(influxd.url, ansai.app, q, params);
    const [expected, actual] = ties ? [sortRowsWithinTime(both.influxd), sortRowsWithinTime(both.ansai)] : [both.influxd, both.ansai];
    expect(expected.status).toBe(200);
    expect(hasRows(expected), `influxd answered without rows: ${JSON.stringify(expected.body)}`).toBe(true);
    expect(diffAnswers(expected, actual), `influxd: ${JSON.stringify(expected.body).slice(0, 1500)}\nansai: ${JSON.stringify(actual.body).slice(0, 1500)}`).toEqual([]);
  });

  it.each(emptyCases)("$name", async ({ q, params }) => {
    const { influxd: expected, ansai: actual } = await runQueryBothWays(influxd.url, ansai.app, q, params);
    expect(hasRows(expected)).toBe(false);
    expect(diffAnswers(expected, actual)).toEqual([]);
  });

  it("rejects a bad regex with a 400 placed at the regex, as InfluxDB does", async () => {
    const q = `SELECT mean("usage_idle") FROM "cpu" WHERE "host" =~ /(/`;
    const { influxd: expected, ansai: actual } = await runQueryBothWays(influxd.url, ansai.app, q);
    expect([expected.status, actual.status]).toEqual([400, 400]);
    // The regex engines word their errors differently (Go vs RE2); the frame and the place are InfluxDB's.
    for (const a of [expected, actual]) expect((a.body as { error: string }).error).toMatch(/^error parsing query: error parsing regexp: .*`\(` at line 1, char 53$/);
  });
});
