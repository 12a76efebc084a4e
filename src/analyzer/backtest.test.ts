import pino from "pino";
import { describe, expect, it } from "vitest";
import { parseSeriesKey, type Point } from "../core/point.js";
import { columnsToPoints, type PointColumns } from "../core/columns.js";
import { readSampleBatches, readSamples, stringChunks, type ReadOptions, type SampleBatch } from "./backtest-input.js";
import { backtest, newBacktestStats, overrideThreshold, rulesWatching, transitionJson, type BacktestOptions, type BacktestTransition } from "./backtest.js";
import { defaultRules } from "./default-rules.js";
import { createAnalyzer } from "./engine.js";
import type { RuleSpec } from "./rules.js";
import { gaussian, seededRandom } from "./test-helpers.js";

const S = 1000;
const MIN = 60 * S;
const HOUR = 60 * MIN;
const T0 = 1_700_000_000_000;
const log = pino({ level: "silent" });
const DISK = parseSeriesKey("disk,host=h1,path=/data used_percent")!;
const WORKER = parseSeriesKey("procstat,host=h1,process_name=worker memory_rss")!;

async function run(text: string, read: Partial<ReadOptions>, opts: Partial<BacktestOptions> = {}): Promise<BacktestTransition[]> {
  const out: BacktestTransition[] = [];
  const samples = readSamples(stringChunks(text), { name: "in", ...read });
  for await (const t of backtest(samples, { rules: defaultRules, evaluationIntervalMs: 10 * S, log, ...opts })) out.push(t);
  return out;
}

/** A disk at 40 % filling 10 %/h with seeded noise (σ 0.1 %), every 30 s: full at T0 + 6 h. */
function fillingDiskCsv(seed: number): { csv: string; fullAtMs: number } {
  const rand = seededRandom(seed);
  let csv = "timestamp,value\n";
  for (let t = T0; t < T0 + 5 * HOUR; t += 30 * S) {
    const v = 40 + (10 * (t - T0)) / HOUR + 0.1 * gaussian(rand);
    csv += `${t},${v.toFixed(4)}\n`;
  }
  return { csv, fullAtMs: T0 + 6 * HOUR };
}

/** The live loop of app.ts, driven by hand: points enter as they are collected; rules run every interval. */
function liveTransitions(points: readonly Point[], rules: RuleSpec[], intervalMs: number): BacktestTransition[] {
  const analyzer = createAnalyzer({ rules, log });
  const out: BacktestTransition[] = [];
  let i = 0;
  const last = points[points.length - 1]!.timeMs;
  for (let now = Math.ceil(points[0]!.timeMs / intervalMs) * intervalMs; ; now += intervalMs) {
    const pass: Point[] = [];
    while (i < points.length && points[i]!.timeMs <= now) pass.push(points[i++]!);
    analyzer.write(pass);
    for (const a of analyzer.evaluate(now).transitions) {
      const p = a.prediction;
      const r = (ms: number | null): number | null => (ms === null ? null : Math.round(ms));
      out.push({ timeMs: now, rule: a.rule, series: a.series, state: a.state, severity: a.severity, value: p.value, etaMs: r(p.etaMs), etaLowMs: r(p.etaLowMs), etaHighMs: r(p.etaHighMs), summary: a.summary });
    }
    if (now >= last) return out;
  }
}

describe("backtest", () => {
  it("replays a filling disk: disk_full_4h goes pending, then fires with an ETA close to the true crossing", async () => {
    const { csv, fullAtMs } = fillingDiskCsv(7);
    const stats = newBacktestStats();
    const transitions = await run(csv, { series: DISK }, { stats });
    const mine = transitions.filter((t) => t.rule === "disk_full_4h");
    const firingAt = mine.findIndex((t) => t.state === "firing");
    expect(firingAt).toBeGreaterThan(0);
    // Noise may start and drop a pending episode or two (a pending that lapses prints nothing); the one that fires began 5 min before (`for`).
    expect(mine.slice(0, firingAt).every((t) => t.state === "pending")).toBe(true);
    const pending = mine[firingAt - 1]!;
    const firing = mine[firingAt]!;
    const forMs = defaultRules.find((r) => r.name === "disk_full_4h")!.forMs;
    expect(firing.timeMs - pending.timeMs).toBe(forMs);
    // The forecast comes within the 4 h horizon at about T0 + 2 h; it fires `for` later.
    expect(firing.timeMs).toBeGreaterThan(T0 + 1.5 * HOUR + forMs);
    expect(firing.timeMs).toBeLessThan(T0 + 2.5 * HOUR + forMs);
    const lead = fullAtMs - firing.timeMs;
    expect(Math.abs(firing.etaMs! - fullAtMs)).toBeLessThan(0.1 * lead);
    expect(firing.etaLowMs!).toBeLessThanOrEqual(firing.etaMs!);
    expect(firing.etaHighMs!).toBeGreaterThanOrEqual(firing.etaMs!);
    expect(firing.series).toBe("disk,host=h1,path=/data used_percent");
    expect(firing.severity).toBe("critical");
    expect(firing.summary).toMatch(/^\/data on h1 full in \d+ h \d+ m \(/);
    // Every evaluation lands on a 10 s boundary of simulated time.
    expect(transitions.every((t) => t.timeMs % (10 * S) === 0)).toBe(true);
    expect(stats.samples).toBe(600);
    expect(stats.evaluations).toBe(1 + (599 * 30) / 10);
  });

  it("uses --threshold where a procstat rule reads memory_limit, and fires on the leak", async () => {
    // 1 GiB growing 6 MiB/min, every 10 s for 2 h: a 2 GiB limit is reached after 170.7 min. The
    // memory rules' leak detector judges growth once it spans half its window (1.5 h of 3 h).
    let csv = "timestamp,value\n";
    for (let i = 0; i < 720; i++) csv += `${(T0 + i * 10 * S) / 1000},${2 ** 30 + i * 2 ** 20}\n`;
    const limitAtMs = T0 + (1024 * 10 * S);
    // Without a limit the rule has no threshold: nothing to say.
    expect(await run(csv, { series: WORKER })).toEqual([]);
    const { rules, overridden } = overrideThreshold(defaultRules, 2 ** 31, WORKER);
    expect(overridden).toEqual(["process_memory_limit", "process_memory_leak"]);
    const transitions = await run(csv, { series: WORKER }, { rules });
    expect(transitions.map((t) => `${t.rule} ${t.state}`)).toEqual(["process_memory_limit pending", "process_memory_limit firing"]);
    const firing = transitions[1]!;
    // The peaks lead the trough line by one 3.75-minute bucket of growth.
    expect(firing.etaMs!).toBeLessThanOrEqual(limitAtMs);
    expect(limitAtMs - firing.etaMs!).toBeLessThan(4 * MIN);
    expect(firing.series).toBe("procstat,host=h1,process_name=worker memory_rss");
  });

  it("replays line protocol, taking the threshold from the memory_limit field", async () => {
    let lp = "";
    for (let i = 0; i < 720; i++) {
      const rss = 2 ** 30 + i * 2 ** 20;
      lp += `procstat,host=h1,process_name=worker,pid=42 memory_rss=${rss}i,memory_limit=${2 ** 31}i ${BigInt(T0 + i * 10 * S) * 1_000_000n}\n`;
      lp += `disk,host=h1,path=/data used_percent=20 ${BigInt(T0 + i * 10 * S) * 1_000_000n}\n`;
    }
    const transitions = await run(lp, {});
    expect(transitions.map((t) => `${t.rule} ${t.state}`)).toEqual(["process_memory_limit pending", "process_memory_limit firing"]);
    expect(transitions[0]!.series).toBe("procstat,host=h1,pid=42,process_name=worker memory_rss");
    expect(T0 + 1024 * 10 * S - transitions[1]!.etaMs!).toBeGreaterThanOrEqual(0);
    expect(T0 + 1024 * 10 * S - transitions[1]!.etaMs!).toBeLessThan(4 * MIN);
  });

  it("agrees with the live loop transition for transition, across 15 s samples, a quiet gap and a refill", async () => {
    // Fill, pause (sweeps and alert expiry happen in the gap), then a sawtooth that fills again.
    const rand = seededRandom(11);
    const points: Point[] = [];
    const tags = Object.freeze({ host: "h1", path: "/data" });
    const add = (t: number, v: number): void => {
      points.push({ measurement: "disk", tags, fields: { used_percent: v }, timeMs: t });
    };
    for (let t = T0; t < T0 + 4 * HOUR; t += 15 * S) add(t, 50 + (12 * (t - T0)) / HOUR + 0.2 * gaussian(rand));
    const back = T0 + 4 * HOUR + 3 * 24 * HOUR + 7 * S;
    for (let t = back; t < back + 6 * HOUR; t += 15 * S) add(t, 30 + ((20 * ((t - back) % (2 * HOUR))) / HOUR) * 0.9 + 0.2 * gaussian(rand));
    // A 6 h window, so the 3-day gap goes quiet and is skipped.
    const rules = defaultRules.filter((r) => r.name.startsWith("disk_full")).map((r) => ({ ...r, windowMs: 6 * HOUR }));
    const live = liveTransitions(points, rules, 10 * S);
    async function* batches(): AsyncGenerator<Point[]> {
      for (let i = 0; i < points.length; i += 97) yield points.slice(i, i + 97);
    }
    const stats = newBacktestStats();
    const replayed: BacktestTransition[] = [];
    for await (const t of backtest(batches(), { rules, evaluationIntervalMs: 10 * S, log, stats })) replayed.push(t);
    expect(live.length).toBeGreaterThan(4);
    expect(live.some((t) => t.state === "resolved")).toBe(true);
    expect(replayed).toEqual(live);
    // The 3-day gap was skipped, not evaluated every 10 s.
    // Data spans 10 h; the gap is evaluated until it is quiet (window 6 h + 15 min), then skipped.
    expect(stats.evaluations).toBeLessThan((17 * HOUR) / (10 * S));
  });

  it("yields nothing for no samples, and rejects a bad interval", async () => {
    expect(await run("", { series: DISK })).toEqual([]);
    await expect(run("timestamp,value\n1,1\n", { series: DISK }, { evaluationIntervalMs: 0 })).rejects.toThrow("evaluationIntervalMs must be a whole number of ms > 0, got 0");
  });
});

describe("rulesWatching / overrideThreshold", () => {
  it("finds the rules whose measurement, tags and field fit the series", () => {
    expect(rulesWatching(defaultRules, DISK).map((r) => r.name)).toEqual(["disk_full_24h", "disk_full_4h"]);
    expect(rulesWatching(defaultRules, parseSeriesKey("disk,host=h1 inodes_used")!)).toEqual([]);
  });

  it("overrides every rule when no series is given, and leaves the input untouched", () => {
    const { rules, overridden } = overrideThreshold(defaultRules, 90);
    expect(overridden).toEqual(defaultRules.map((r) => r.name));
    expect(rules.map((r) => r.threshold)).toEqual(defaultRules.map(() => ({ value: 90 })));
    expect(defaultRules.find((r) => r.name === "process_memory_limit")!.threshold).toEqual({ field: "memory_limit" });
    expect(() => overrideThreshold(defaultRules, NaN)).toThrow(RangeError);
  });
});

describe("transitionJson", () => {
  it("prints the documented keys in order and nothing else", () => {
    const t: BacktestTransition = {
      timeMs: 1,
      rule: "r",
      series: "disk,host=h1 used_percent",
      state: "firing",
      severity: "critical",
      value: 99.5,
      etaMs: 2,
      etaLowMs: null,
      etaHighMs: 3,
      summary: "s",
    };
    expect(transitionJson(t)).toBe('{"time":1,"rule":"r","series":"disk,host=h1 used_percent","state":"firing","value":99.5,"eta":2,"eta_low":null,"eta_high":3}');
  });
});

describe("backtest over columns", () => {
  async function replay(batches: AsyncIterable<SampleBatch>, rules: RuleSpec[] = defaultRules): Promise<{ transitions: BacktestTransition[]; evaluations: number; samples: number }> {
    const stats = newBacktestStats();
    const transitions: BacktestTransition[] = [];
    for await (const t of backtest(batches, { rules, evaluationIntervalMs: 10 * S, log, stats })) transitions.push(t);
    return { transitions, evaluations: stats.evaluations, samples: stats.samples };
  }

  // Several samples per evaluation, chunks that split between evaluations: the CSV's columns must replay as its points do.
  it.each([
    [3 * S, 997],
    [10 * S, 4096],
    [30 * S, 1 << 16],
  ])("replays a CSV (a sample every %d ms, chunks of %d chars) as its points", async (stepMs, chunkChars) => {
    const rand = seededRandom(5);
    let csv = "timestamp,value\n";
    for (let t = T0; t < T0 + 6 * HOUR; t += stepMs) csv += `${t},${(40 + (12 * (t - T0)) / HOUR + 0.2 * gaussian(rand)).toFixed(4)}\n`;
    const read = { name: "in", series: DISK };
    const columns = await replay(readSampleBatches(stringChunks(csv, chunkChars), read));
    const points = await replay(readSamples(stringChunks(csv, chunkChars), read));
    expect(points.transitions.length).toBeGreaterThan(1);
    expect(columns).toEqual(points);
  });

  it("replays columns of several series and fields, strings included, as their points", async () => {
    const procHead = { measurement: "procstat", tags: Object.freeze({ host: "h1", process_name: "worker" }) };
    const diskHead = { measurement: "disk", tags: Object.freeze({ host: "h1", path: "/data" }) };
    const heads = [diskHead, procHead];
    const fieldNames = [Object.freeze(["used_percent"]), Object.freeze(["memory_rss", "state", "memory_limit"])];
    const batches: PointColumns[] = [];
    let t = T0;
    for (let b = 0; b < 30; b++) {
      const headIds: number[] = [];
      const times: number[] = [];
      const values: number[] = [];
      const others: Array<[number, string]> = [];
      for (let i = 0; i < 50; i++, t += 5 * S) {
        const k = (t - T0) / (5 * S);
        headIds.push(k % 3 === 0 ? 1 : 0);
        times.push(t);
        if (k % 3 !== 0) values.push(50 + k * 0.01);
        else {
          others.push([values.length + 1, "running"]);
          values.push(1e9 + k * 2e5, NaN, 2 ** 31);
        }
      }
      const ids = Int32Array.from(headIds);
      batches.push({ count: ids.length, heads, fieldNames, headIds: ids, shapeIds: ids, timesMs: Float64Array.from(times), values: Float64Array.from(values), others });
    }
    async function* asColumns(): AsyncGenerator<SampleBatch> {
      yield* batches;
    }
    async function* asPoints(): AsyncGenerator<SampleBatch> {
      for (const c of batches) yield columnsToPoints(c);
    }
    const rules = defaultRules.filter((r) => r.match.measurement === "disk" || r.name === "process_memory_limit");
    const columns = await replay(asColumns(), rules);
    const points = await replay(asPoints(), rules);
    expect(points.samples).toBe(1500);
    expect(columns).toEqual(points);
  });
});
