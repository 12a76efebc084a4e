import pino from "pino";
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import type { Prediction } from "../core/contracts.js";
import type { Point } from "../core/point.js";
import { defaultRules } from "./default-rules.js";
import { gaussian, seededRandom } from "./test-helpers.js";
import { createAnalyzer, predictionToPoint } from "./engine.js";
import type { RuleSpec } from "./rules.js";

const S = 1000;
const MIN = 60 * S;
const T0 = 1_700_000_000_000;
const log = pino({ level: "silent" });

const disk = (timeMs: number, usedPercent: number, tags: Record<string, string> = {}): Point => ({
  measurement: "disk",
  tags: { host: "web-01", path: "/var", device: "sda1", fstype: "ext4", mode: "rw", ...tags },
  fields: { used_percent: usedPercent, free: 1e9, used: 2e9, total: 3e9, inodes_used: 5 },
  timeMs,
});

describe("createAnalyzer", () => {
  it("fires disk_full_4h for a disk filling at 1 %/min, with the ETA within 5% of the truth", () => {
    const registry = new Registry();
    const a = createAnalyzer({ rules: defaultRules, log, registry });
    const truthMs = T0 + 90 * MIN; // 10 % → 100 % at 1 %/min
    let fired: { nowMs: number; etaMs: number; summary: string } | undefined;
    const seen: string[] = [];
    for (let t = T0; t < truthMs && !fired; t += 10 * S) {
      a.write([disk(t, 10 + (t - T0) / MIN)]);
      for (const alert of a.evaluate(t).transitions) {
        seen.push(`${alert.rule}:${alert.state}`);
        if (alert.rule === "disk_full_4h" && alert.state === "firing") {
          fired = { nowMs: t, etaMs: alert.prediction.etaMs!, summary: alert.summary };
        }
      }
    }
    expect(fired).toBeDefined();
    const { nowMs, etaMs, summary } = fired!;
    expect(nowMs - T0).toBeGreaterThanOrEqual(defaultRules.find((r) => r.name === "disk_full_4h")!.forMs); // not before `for`
    expect(Math.abs(etaMs - truthMs)).toBeLessThan(0.05 * (truthMs - nowMs));
    expect(summary).toMatch(/^\/var on web-01 full in (1 h )?\d+ m( \d+ s)? \(/);
    expect(seen).toContain("disk_full_4h:pending");
    const firing = a.alerts().find((x) => x.rule === "disk_full_4h")!;
    expect(firing).toMatchObject({ state: "firing", severity: "critical", id: `disk_full_4h:${firing.series}` });
    expect(firing.series).toBe("disk,device=sda1,fstype=ext4,host=web-01,mode=rw,path=/var used_percent");
  });

  it("forecasts a disk that was flat and then fills steadily", () => {
    // 2 min flat at 20 %, then 2 %/min, 1 s samples, 10 min window, 30 min horizon, `for` 10 s.
    const rule: RuleSpec = {
      ...defaultRules[1]!,
      name: "fill",
      horizonMs: 30 * MIN,
      forMs: 10 * S,
      windowMs: 10 * MIN,
      minSamples: 5,
    };
    const a = createAnalyzer({ rules: [rule], log });
    const rampAt = T0 + 2 * MIN;
    const truthMs = rampAt + 40 * MIN;
    let result: { at: number; err: number } | undefined;
    for (let t = T0; t < truthMs && !result; t += S) {
      a.write([disk(t, t < rampAt ? 20 : 20 + (2 * (t - rampAt)) / MIN)]);
      const fired = a.evaluate(t).transitions.find((x) => x.state === "firing");
      if (fired) result = { at: t, err: Math.abs(fired.prediction.etaMs! - truthMs) / (truthMs - t) };
    }
    expect(result).toBeDefined();
    // Figure at the time of writing: fires 13 s into the ramp with a 0.2 % ETA error.
    expect(result!.err).toBeLessThan(0.2);
  });

  it("takes a process's threshold from its memory_limit field", () => {
    const a = createAnalyzer({ rules: defaultRules, log });
    const tags = { host: "web-01", process_name: "worker", pid: "123" };
    // 1 GiB + 1 MiB per 10 s for 2 h, limit 2 GiB: the limit is reached 1024 samples after start.
    // The leak detector judges a rise once it spans half its 3 h window.
    for (let i = 0; i < 720; i++) {
      const t = T0 + i * 10 * S;
      a.write([{ measurement: "procstat", tags, fields: { memory_rss: 2 ** 30 + i * 2 ** 20, memory_limit: 2 ** 31 }, timeMs: t }]);
    }
    const now = T0 + 719 * 10 * S;
    const truthMs = T0 + 1024 * 10 * S;
    const { predictions } = a.evaluate(now);
    const p = predictions.find((x) => x.rule === "process_memory_limit")!;
    expect(p.threshold).toBe(2 ** 31);
    // The peaks (what the OOM killer sees) lead the trough line by the growth of one 3.75-minute bucket.
    expect(p.etaMs!).toBeLessThanOrEqual(truthMs);
    expect(truthMs - p.etaMs!).toBeLessThan(4 * MIN);
    expect(a.evaluate(now + 15 * MIN).transitions.map((x) => x.summary)).toEqual([
      expect.stringMatching(/^worker \(pid 123\) on web-01 reaches its memory limit in 3\d m( \d+ s)? \(3\d m( \d+ s)? – 3\d m( \d+ s)?\)$/),
    ]);
  });

  it("takes a threshold from another series paired on the host tag", () => {
    const rule: RuleSpec = {
      name: "process_vs_host_memory",
      severity: "warning",
      match: { measurement: "procstat", field: "memory_rss" },
      threshold: { measurement: "mem", field: "total", on: ["host"] },
      horizonMs: 24 * 60 * MIN,
      forMs: 0,
      windowMs: 60 * MIN,
      minSamples: 5,
      summary: "",
    };
    const a = createAnalyzer({ rules: [rule], log });
    const totals: Record<string, number> = { "web-01": 2000, "web-02": 4000 };
    for (let i = 0; i < 30; i++) {
      const t = T0 + i * 10 * S;
      for (const host of ["web-01", "web-02", "web-03"]) {
        a.write([{ measurement: "procstat", tags: { host, process_name: "worker" }, fields: { memory_rss: 1000 + i }, timeMs: t }]);
      }
      // web-03 reports no total memory: its process has no threshold, so no prediction.
      for (const [host, total] of Object.entries(totals)) a.write([{ measurement: "mem", tags: { host }, fields: { total }, timeMs: t }]);
    }
    const byHost = new Map(a.evaluate(T0 + 29 * 10 * S).predictions.map((p) => [p.tags.host, p.threshold]));
    expect(byHost).toEqual(new Map([["web-01", 2000], ["web-02", 4000]]));
  });

  describe("process_memory_leak (default rule, leak detector)", () => {
    const MIB = 2 ** 20;
    const HOUR = 60 * MIN;
    /** 4 h of RSS at 10 s under a 5-minute GC saw of 40 MiB, troughs following `trough(tMs)`. */
    const feed = (trough: (tMs: number) => number): ReturnType<typeof createAnalyzer> => {
      const a = createAnalyzer({ rules: defaultRules.filter((r) => r.name === "process_memory_leak"), log });
      const tags = { host: "web-01", process_name: "worker", pid: "42" };
      for (let t = 0; t <= 4 * HOUR; t += 10 * S) {
        const saw = ((t % (5 * MIN)) / (5 * MIN)) * 40 * MIB;
        a.write([{ measurement: "procstat", tags, fields: { memory_rss: trough(t) + saw, memory_limit: 2048 * MIB }, timeMs: T0 + t }]);
      }
      return a;
    };
    const firing = (a: ReturnType<typeof createAnalyzer>): string[] => {
      const out: string[] = [];
      for (let t = 0; t <= 30 * MIN; t += MIN) out.push(...a.evaluate(T0 + 4 * HOUR + t).transitions.filter((x) => x.state === "firing").map((x) => x.summary));
      return out;
    };

    it("fires on a leak of 60 MiB/h and says the rate", () => {
      const summaries = firing(feed((t) => 500 * MIB + (60 * MIB * t) / HOUR));
      expect(summaries).toHaveLength(1);
      expect(summaries[0]).toMatch(/^worker \(pid 42\) on web-01 leaks (5[5-9]|6[0-5])(\.\d)? MiB\/h: out of memory in \d+ h/);
    });

    it("stays quiet on warm-up growth that plateaus", () => {
      expect(firing(feed((t) => 500 * MIB + 300 * MIB * (1 - Math.exp(-t / (20 * MIN)))))).toEqual([]);
    });
  });

  describe("http_latency_anomaly (default rule, anomaly model)", () => {
    const run = (latency: (i: number) => number): string[] => {
      const a = createAnalyzer({ rules: defaultRules.filter((r) => r.name === "http_latency_anomaly"), log });
      const rand = seededRandom(7);
      const tags = { host: "probe-1", server: "https://shop.example/", method: "GET", result: "success" };
      const out: string[] = [];
      for (let i = 0; i < 360; i++) {
        const t = T0 + i * 10 * S;
        a.write([{ measurement: "http_response", tags, fields: { response_time: latency(i) * (1 + 0.1 * gaussian(rand)) }, timeMs: t }]);
        out.push(...a.evaluate(t).transitions.filter((x) => x.state === "firing").map((x) => `${i} ${x.summary}`));
      }
      return out;
    };

    it("fires when latency stays far above its baseline for 5 minutes", () => {
      // 0.1 s for 30 min, then 0.5 s from sample 180 on.
      const fired = run((i) => (i < 180 ? 0.1 : 0.5));
      expect(fired).toHaveLength(1);
      const [at, summary] = [Number(fired[0]!.split(" ")[0]), fired[0]!];
      expect(at).toBeGreaterThanOrEqual(180 + 30);
      expect(at).toBeLessThan(180 + 40);
      expect(summary).toMatch(/https:\/\/shop\.example\/ \(checked from probe-1\) answers slowly: 0\.\d+ s, \d+\.\d σ above its usual$/);
    });

    it("stays quiet on noise and on a single slow answer", () => {
      expect(run((i) => (i === 200 ? 2 : 0.1))).toEqual([]);
    });
  });

  it("gives each forecast a band at the horizon that holds the forecast and widens with the ETA range", () => {
    const rule: RuleSpec = { ...defaultRules[1]!, model: "linear_trend", name: "band", horizonMs: 60 * MIN, forMs: 0, windowMs: 60 * MIN };
    const a = createAnalyzer({ rules: [rule], log });
    const rand = seededRandom(3);
    for (let i = 0; i < 120; i++) a.write([disk(T0 + i * 10 * S, 20 + i * 0.1 + 0.05 * gaussian(rand))]);
    const p = a.evaluate(T0 + 119 * 10 * S).predictions[0]!;
    expect(p.forecastLow!).toBeLessThan(p.forecastValue);
    expect(p.forecastHigh!).toBeGreaterThan(p.forecastValue);
    // 0.6 %/min for an hour: about 36 % more; the band is a few percent wide, not more.
    expect(p.forecastValue - p.value).toBeGreaterThan(30);
    expect(p.forecastHigh! - p.forecastLow!).toBeLessThan(10);
    expect(predictionToPoint(p).fields).toMatchObject({ forecast_low: p.forecastLow, forecast_high: p.forecastHigh });
  });

  it("forecasts a young series but lets it alert only after min_history", () => {
    const rule: RuleSpec = { ...defaultRules[1]!, model: "linear_trend", name: "aged", horizonMs: 24 * 60 * MIN, forMs: 0, windowMs: 60 * MIN, minHistoryMs: 30 * MIN };
    const a = createAnalyzer({ rules: [rule], log });
    const states: string[] = [];
    for (let i = 0; i <= 240; i++) {
      const t = T0 + i * 10 * S;
      a.write([disk(t, 50 + i * 0.05)]);
      const { predictions, transitions } = a.evaluate(t);
      if (i === 100) expect(predictions[0]?.etaMs).not.toBeNull();
      states.push(...transitions.map((x) => `${(t - T0) / MIN} ${x.state}`));
    }
    // Filling from the start, but firing only once the series is 30 minutes old.
    expect(states).toEqual(["30 firing"]);
  });

  it("makes no prediction while a field threshold is unknown", () => {
    const a = createAnalyzer({ rules: defaultRules, log });
    for (let i = 0; i < 30; i++) {
      a.write([{ measurement: "procstat", tags: { pid: "1" }, fields: { memory_rss: i }, timeMs: T0 + i * S }]);
    }
    expect(a.evaluate(T0 + 30 * S).predictions).toEqual([]);
    expect(a.ruleHealth().find((h) => h.rule === "process_memory_limit")!.series).toBe(1);
  });

  it("shares one model slot between rules with the same window and ignores non-matching points", () => {
    const registry = new Registry();
    const d24 = defaultRules.find((r) => r.name === "disk_full_24h")!;
    const a = createAnalyzer({ rules: [d24, { ...d24, name: "disk_full_12h", horizonMs: 12 * 60 * MIN }], log, registry });
    a.write([disk(T0, 1), disk(T0 + S, 2, { path: "/" }), { measurement: "cpu", tags: {}, fields: { usage: 1 }, timeMs: T0 }]);
    // Same series, tags in another order: still one series.
    a.write([{ ...disk(T0 + 2 * S, 3), tags: { mode: "rw", fstype: "ext4", device: "sda1", path: "/var", host: "web-01" } }]);
    return registry.getSingleMetricAsString("ansai_analyzer_samples_total").then(async (text) => {
      expect(text).toMatch(/ansai_analyzer_samples_total 3$/m);
      expect(await registry.getSingleMetricAsString("ansai_analyzer_series")).toMatch(/ansai_analyzer_series 2$/m);
    });
  });

  it("resolves alerts of a series that stops reporting, and keeps them visible for a while", () => {
    const rule: RuleSpec = { ...defaultRules[1]!, forMs: 0, windowMs: 10 * MIN };
    const a = createAnalyzer({ rules: [rule], log, resolvedRetentionMs: 5 * MIN });
    let t = T0;
    for (; t < T0 + 2 * MIN; t += 10 * S) a.write([disk(t, 50 + (t - T0) / MIN)]);
    expect(a.evaluate(t).transitions.map((x) => x.state)).toEqual(["firing"]);
    expect(a.evaluate(t + 11 * MIN).transitions.map((x) => x.state)).toEqual(["resolved"]);
    expect(a.alerts().map((x) => x.state)).toEqual(["resolved"]);
    expect(a.evaluate(t + 17 * MIN).transitions).toEqual([]);
    expect(a.alerts()).toEqual([]);
    expect(a.ruleHealth()[0]!.series).toBe(1);
    a.evaluate(t + 30 * MIN); // past two windows: forgotten
    expect(a.ruleHealth()[0]!.series).toBe(0);
    expect(a.predictions()).toEqual([]);
  });

  it("reports rule health and sorts predictions by ETA, nulls last", () => {
    // Plain 6 h trends: the default disk rules would still be learning after 190 s.
    const rules = defaultRules.map((r) => (r.match.measurement === "disk" ? { ...r, model: "linear_trend" as const, windowMs: 6 * 60 * MIN } : r));
    const a = createAnalyzer({ rules, log });
    for (let i = 0; i < 20; i++) {
      const t = T0 + i * 10 * S;
      a.write([disk(t, 10 + i, { path: "/fast" }), disk(t, 10 + i / 10, { path: "/slow" }), disk(t, 50, { path: "/flat" })]);
    }
    a.evaluate(T0 + 190 * S);
    const paths = a.predictions().map((p) => `${p.rule} ${p.tags.path}`);
    expect(paths.slice(0, 2).every((p) => p.endsWith("/fast"))).toBe(true);
    expect(paths.slice(-2).every((p) => p.endsWith("/flat"))).toBe(true);
    for (const h of a.ruleHealth()) {
      expect(h.lastEvaluationMs).toBe(T0 + 190 * S);
      expect(h.lastDurationMs).toBeGreaterThanOrEqual(0);
      expect(h.lastError).toBeNull();
    }
  });

  it("rejects duplicate rule names", () => {
    expect(() => createAnalyzer({ rules: [defaultRules[0]!, defaultRules[0]!], log })).toThrow(/defined twice/);
  });
});

describe("predictionToPoint", () => {
  const p: Prediction = {
    rule: "disk_full_4h",
    model: "linear_trend",
    series: "disk,host=h,path=/ used_percent",
    measurement: "disk",
    tags: { host: "h", path: "/" },
    field: "used_percent",
    atMs: T0,
    value: 50,
    threshold: 100,
    slopePerS: 0.01,
    etaMs: T0 + 5000 * S,
    etaLowMs: T0 + 4000 * S,
    etaHighMs: null,
    forecastValue: 80,
    confidence: 0.97,
    samples: 12,
  };
  it("shapes an ansai_prediction point", () => {
    expect(predictionToPoint(p)).toEqual({
      measurement: "ansai_prediction",
      tags: { host: "h", path: "/", rule: "disk_full_4h", model: "linear_trend", source_measurement: "disk", source_field: "used_percent" },
      fields: { eta_s: 5000, eta_low_s: 4000, slope_per_s: 0.01, forecast_value: 80, confidence: 0.97, threshold: 100, value: 50 },
      timeMs: T0,
    });
  });
});
