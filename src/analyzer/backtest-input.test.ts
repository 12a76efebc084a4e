import { describe, expect, it } from "vitest";
import { AnsaiError } from "../core/errors.js";
import { parseSeriesKey, type Point } from "../core/point.js";
import { parseCsvTimestamp, readSamples, stringChunks, type EpochPrecision, type ReadOptions } from "./backtest-input.js";

const DISK = parseSeriesKey("disk,host=h1,path=/data used_percent")!;
const T = 1_700_000_000_000; // 2023-11-14T22:13:20Z

async function readAll(text: string, opts: Partial<ReadOptions> = {}, chunkChars = 1 << 16): Promise<Point[]> {
  const out: Point[] = [];
  for await (const batch of readSamples(stringChunks(text, chunkChars), { name: "in.csv", series: DISK, ...opts })) out.push(...batch);
  return out;
}

async function errorOf(text: string, opts: Partial<ReadOptions> = {}, chunkChars = 1 << 16): Promise<AnsaiError> {
  try {
    await readAll(text, opts, chunkChars);
  } catch (err) {
    if (err instanceof AnsaiError) return err;
    throw err;
  }
  throw new Error("expected an error");
}

describe("CSV timestamps", () => {
  const cases: Array<[string, number, EpochPrecision?]> = [
    ["1700000000", T],
    ["1700000000.5", T + 500],
    ["1700000000.1239", T + 123],
    ["0", 0],
    ["1700000000123", T + 123],
    ["1700000000123.9", T + 123],
    ["001700000000123", T + 123],
    ["1700000000123.", T + 123],
    ["999999999999999", 999_999_999_999_999, "ms"],
    ["1700000000123456", T + 123],
    ["1700000000123456789", T + 123],
    ["1700000000", 1_700_000_000, "ms"],
    ["1700000000123", 1_700_000_000_123_000, "s"],
    ["1700000000123456789", T + 123, "ns"],
    ["2023-11-14T22:13:20Z", T],
    ["2023-11-14t22:13:20z", T],
    ["2023-11-14T22:13:20.25Z", T + 250],
    ["2023-11-14T22:13:20.123456789Z", T + 123],
    ["2023-11-15T00:13:20+02:00", T],
    ["2023-11-14T20:43:20-0130", T],
    ["2023-11-14 22:13:20", T],
    ["2023-11-14T22:13:20", T],
    ["2024-02-29 00:00:00", Date.UTC(2024, 1, 29)],
    ["1969-12-31 23:59:59", -1000],
    ["2000-03-01 00:00:00", Date.UTC(2000, 2, 1)],
  ];
  it.each(cases)("%s (precision %s) → its ms", (text, ms, precision) => {
    expect(parseCsvTimestamp(text, precision)).toBe(ms);
  });

  const expected = 'expected a timestamp (epoch seconds or milliseconds, RFC 3339 such as 2024-05-01T12:00:00Z, or "YYYY-MM-DD HH:MM:SS" in UTC)';
  const bad: Array<[string, string]> = [
    ["yesterday", `${expected}, got "yesterday"`],
    ["", `${expected}, got ""`],
    ["-1700000000", `${expected}, got "-1700000000"`],
    ["17e8", `${expected}, got "17e8"`],
    ["2023-11-14", `${expected}, got "2023-11-14"`],
    ["2023-11-14 22:13", `${expected}, got "2023-11-14 22:13"`],
    ["2023-11-14 22:13:20 UTC", `${expected}, got "2023-11-14 22:13:20 UTC"`],
    ["2023-02-29 00:00:00", 'expected a valid calendar date, got "2023-02-29 00:00:00"'],
    ["2023-13-01 00:00:00", 'expected a valid calendar date, got "2023-13-01 00:00:00"'],
    ["2023-11-14 24:00:00", 'expected a valid time of day, got "2023-11-14 24:00:00"'],
    ["2023-11-14T22:13:20+24:00", 'expected a UTC offset within ±23:59, got "2023-11-14T22:13:20+24:00"'],
  ];
  it.each(bad)("rejects %j", (text, message) => {
    expect(() => parseCsvTimestamp(text)).toThrow(`input:1: ${message}`);
  });

  it("rejects epoch ms of more than 15 digits as out of range", () => {
    expect(() => parseCsvTimestamp("1234567890123456", "ms")).toThrow('input:1: timestamp 1234567890123456 is out of range');
  });
});

describe("readSamples, CSV", () => {
  it("reads rows as points of the named series, whatever the chunking", async () => {
    const text = '\uFEFFTimestamp, Value\r\n1700000000,12.5\r\n\r\n"2023-11-14 22:13:30", "13"\n1700000020,-1e-3\n 1700000030 ,+7\n1700000040,14';
    for (const chunk of [1, 3, 7, 1 << 16]) {
      const points = await readAll(text, {}, chunk);
      expect(points.map((p) => [p.timeMs, p.fields.used_percent])).toEqual([
        [T, 12.5],
        [T + 10_000, 13],
        [T + 20_000, -0.001],
        [T + 30_000, 7],
        [T + 40_000, 14],
      ]);
      expect(points[0]).toEqual({ measurement: "disk", tags: { host: "h1", path: "/data" }, fields: { used_percent: 12.5 }, timeMs: T });
      // One frozen tags object for the whole input: the analyzer finds the series by identity.
      expect(new Set(points.map((p) => p.tags)).size).toBe(1);
    }
  });

  it("reports the format once it is known", async () => {
    const seen: string[] = [];
    await readAll("timestamp,value\n1700000000,1\n", { onFormat: (f) => seen.push(f) });
    await readAll("disk,host=h1 used_percent=1 1700000000000000000\n", { onFormat: (f) => seen.push(f), series: undefined });
    expect(seen).toEqual(["csv", "line-protocol"]);
  });

  it("skips comment lines before the header, as detection does", async () => {
    const points = await readAll("# exported from grafana\n\n  # by hand\ntimestamp,value\n1700000000,5\n");
    expect(points.map((p) => [p.timeMs, p.fields.used_percent])).toEqual([[T, 5]]);
  });

  it("yields nothing for an empty input or a header alone", async () => {
    expect(await readAll("")).toEqual([]);
    expect(await readAll("\n\n")).toEqual([]);
    expect(await readAll("timestamp,value\n")).toEqual([]);
  });

  const hint = 'Fix that line. CSV input needs a header "timestamp,value" then one sample per line; line protocol needs a timestamp on every line. See `ansai backtest --help`.';
  const badRows: Array<[string, string, string]> = [
    ["a bad timestamp", "timestamp,value\n1700000000,5\nyesterday,5\n", 'in.csv:3: expected a timestamp (epoch seconds or milliseconds, RFC 3339 such as 2024-05-01T12:00:00Z, or "YYYY-MM-DD HH:MM:SS" in UTC), got "yesterday"'],
    ["a bad value", "timestamp,value\n1700000000,abc\n", 'in.csv:2: expected a number as the value, got "abc"'],
    ["an empty value", "timestamp,value\n1700000000,\n", 'in.csv:2: expected a number as the value, got ""'],
    ["a hexadecimal value", "timestamp,value\n1700000000,0x10\n", 'in.csv:2: expected a number as the value, got "0x10"'],
    ["one column", "timestamp,value\n\n1700000000\n", 'in.csv:3: expected 2 columns "timestamp,value", got 1: "1700000000"'],
    ["three columns", "timestamp,value\n1700000000,1,2\n", 'in.csv:2: expected 2 columns "timestamp,value", got 3: "1700000000,1,2"'],
    ["an impossible date", "timestamp,value\n2024-02-30 00:00:00,1\n", 'in.csv:2: expected a valid calendar date, got "2024-02-30 00:00:00"'],
    [
      "a switch from seconds to milliseconds",
      "timestamp,value\n1700000000,1\n1700000010000,2\n",
      "in.csv:3: timestamp 1700000010000 looks like epoch milliseconds but line 2 was epoch seconds; use one unit, or name it with --precision",
    ],
    [
      "a missing header",
      "1700000000,5\n",
      'in.csv:1: expected the CSV header "timestamp,value" or InfluxDB line protocol, got "1700000000,5"',
    ],
    [
      "a header after comments",
      "# exported\n\ntime,val\n",
      'in.csv:3: expected the CSV header "timestamp,value" or InfluxDB line protocol, got "time,val"',
    ],
    [
      "a line that is neither",
      "disk used_percent\n",
      'in.csv:1: expected the CSV header "timestamp,value" or InfluxDB line protocol, got "disk used_percent" (as line protocol: missing "=" after field key "used_percent")',
    ],
  ];
  it.each(badRows)("names the line and what was expected for %s", async (_, text, message) => {
    for (const chunk of [2, 1 << 16]) {
      const err = await errorOf(text, {}, chunk);
      expect(err.code).toBe("ANSAI_BACKTEST_INVALID");
      expect(err.message).toBe(message);
      if (!message.includes("CSV header")) expect(err.hint).toBe(hint);
    }
  });

  it("takes the epoch unit from --precision when given, so a file may hold small numbers", async () => {
    const points = await readAll("timestamp,value\n5000,1\n1700000000000,2\n", { precision: "ms" });
    expect(points.map((p) => p.timeMs)).toEqual([5000, T]);
  });

  it("needs --series for CSV, and says so", async () => {
    const err = await errorOf("timestamp,value\n1700000000,1\n", { series: undefined });
    expect(err.message).toBe("in.csv is CSV, which holds one series without its name");
    expect(err.hint).toBe('Add --series naming it, e.g. --series "disk,host=h1,path=/data used_percent" or "procstat,host=h1,process_name=worker memory_rss".');
  });
});

describe("readSamples, line protocol", () => {
  const lp = [
    "# Telegraf export",
    "procstat,host=h1,process_name=worker memory_rss=1073741824i,memory_limit=2147483648i 1700000000000000000",
    "procstat,host=h1,process_name=other memory_rss=5i 1700000000000000000",
    "",
    "procstat,host=h1,process_name=worker memory_rss=1074790400i,memory_limit=2147483648i 1700000010000000000",
  ].join("\n");

  it("reads points with ns timestamps by default, whatever the chunking", async () => {
    for (const chunk of [5, 1 << 16]) {
      const points = await readAll(lp, { series: undefined }, chunk);
      expect(points.map((p) => [p.tags.process_name, p.timeMs, p.fields.memory_rss])).toEqual([
        ["worker", T, 1073741824],
        ["other", T, 5],
        ["worker", T + 10_000, 1074790400],
      ]);
    }
  });

  it("keeps only the points of --series, with all their fields", async () => {
    const points = await readAll(lp, { series: parseSeriesKey("procstat,host=h1,process_name=worker memory_rss") });
    expect(points.map((p) => p.fields)).toEqual([
      { memory_rss: 1073741824, memory_limit: 2147483648 },
      { memory_rss: 1074790400, memory_limit: 2147483648 },
    ]);
  });

  it("honours --precision", async () => {
    const points = await readAll("disk,host=h1 used_percent=1 1700000000\n", { series: undefined, precision: "s" });
    expect(points[0]?.timeMs).toBe(T);
  });

  const badLines: Array<[string, string, string]> = [
    [
      "a bad line",
      "disk,host=h1 used_percent=1 1700000000000000000\n\ndisk,host=h1 used_percent=x 1700000010000000000\n",
      'in.csv:3:27: invalid line protocol: invalid value of field "used_percent": expected a number, a quoted string or a boolean: "disk,host=h1 used_percent=x 1700000010000000000"',
    ],
    [
      "a line without a timestamp",
      "disk,host=h1 used_percent=1 1700000000000000000\n# note\ndisk,host=h1 used_percent=2\n",
      "in.csv:3: missing timestamp: a backtest replays every sample at its own time",
    ],
  ];
  it.each(badLines)("names the line of %s", async (_, text, message) => {
    for (const chunk of [9, 1 << 16]) {
      const err = await errorOf(text, { series: undefined }, chunk);
      expect(err.message).toBe(message);
    }
  });
});
