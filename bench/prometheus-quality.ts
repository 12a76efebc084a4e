/**
 * Alert quality, side by side: ANSAI's default rules (replayed by `backtest`, the live code path)
 * and Prometheus rules evaluated by a real Prometheus from Debian over the same seeded scenarios:
 * disks (test/fixtures/scenarios/disks.ts) against the node-mixin rules, then processes' memory
 * (test/fixtures/scenarios/memory.ts: leaks of 2–200 MB/h under a GC saw, warm-ups, deploy
 * steps, gaps) against the same predict_linear rules applied to RSS and the memory limit (there
 * is no common Prometheus leak rule; this is the shape people copy).
 *
 * node-mixin (NodeFilesystemSpaceFillingUp), as shipped:
 *   warning:  avail/size*100 < 40 and predict_linear(avail[6h], 24h) < 0, for 1h
 *   critical: avail/size*100 < 20 and predict_linear(avail[6h], 4h) < 0, for 1h
 * Prometheus computes the condition (query_range at the 60 s evaluation step); `for` is applied
 * here exactly as its rule manager does (active at every step for 1 h, reset when it is not).
 *
 * Scored twice: from the first sample (a fresh install: neither system has history) and after two
 * days of history (a running server: ANSAI's 3-day models have seen daily cycles; Prometheus' 6 h
 * window is the same either way).
 *
 * Memory, as node-mixin's disk rules turned around (RSS toward the limit):
 *   warning:  rss/limit*100 > 60 and predict_linear(rss[6h], 24h) > limit, for 1h
 *   critical: rss/limit*100 > 80 and predict_linear(rss[6h], 4h) > limit, for 1h
 * scored from the process's start (the samples end at the OOM kill).
 *
 * Run: `npx tsx bench/prometheus-quality.ts [seeds=10] [intervalS=60] [kinds=default]`, kinds being
 * `default` (the suite's six), `extra` (runaway, weekly-backup, bursts-varied: does burst
 * rejection generalise, is a 2 h runaway still caught?), `all`, or a comma-separated list; `memory`
 * as the 4th argument adds the memory suite (`none` as the 3rd skips the disks).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import path from "node:path";
import pino from "pino";
import { backtest } from "../src/analyzer/backtest.js";
import { defaultRules } from "../src/analyzer/default-rules.js";
import { memoryScenarioSuite } from "../test/fixtures/scenarios/memory.js";
import { EXTRA_SCENARIO_KINDS, SCENARIO_KINDS, scenarioSuite, type Scenario, type ScenarioKind } from "../test/fixtures/scenarios/disks.js";
import type { RuleSpec } from "../src/analyzer/rules.js";
import type { Point } from "../src/core/point.js";
import { requireDebianBinary } from "../test/support/debian.js";
import { freePort } from "../test/support/ports.js";
import { startProc, waitReady } from "./support.js";

const MIN = 60_000;
const HOUR = 60 * MIN;
const WEEK = 7 * 24 * HOUR;
const SIZE_BYTES = 100 * 2 ** 30;
/** An alert firing earlier than this before the exhaustion (or with none) is a false alarm. */
const FALSE_MARGIN_MS = 48 * HOUR;
/** An exhaustion counts as caught when an alert fired at least this long before it. */
const CAUGHT_LEAD_MS = 30 * MIN;
const EVAL_MS = 60_000;

/** What one system did on one scenario: when its alerts started firing, with the ETA it gave. */
interface Firing {
  timeMs: number;
  etaMs: number | null;
}

interface Summary {
  caught: number;
  exhaustions: number;
  medianLeadH: number;
  medianEtaError: number;
  falseAlarms: number;
  seriesWeeks: number;
}

/** A scenario as both systems see it: samples, the threshold they are about, the truth. */
type Series = Pick<Scenario, "name" | "startMs" | "durationMs" | "exhaustionMs" | "timesMs" | "values" | "threshold"> & { kind: string };

/** One kind of resource: its scenarios, how each system watches it, and how it is scored. */
interface Suite {
  title: string;
  scenarios: Series[];
  /** ANSAI's default rules for it, and the point one sample becomes (tags name the scenario). */
  rules: RuleSpec[];
  point: (s: Series, value: number, timeMs: number, tags: Record<string, string>) => Point;
  tag: string;
  /** Prometheus: backfilled metric families, alert conditions (each `for: 1h`), and the ETA (seconds left). */
  families: Array<[string, (s: Series, i: number) => number]>;
  conditions: string[];
  etaSeconds: string;
  prometheusName: string;
  /** Scored from these offsets after each scenario's start. */
  scoredFrom: Array<[string, number]>;
}

const seeds = Number(process.argv[2] ?? 10);
const intervalMs = Number(process.argv[3] ?? 60) * 1000;
const seedList = Array.from({ length: seeds }, (_, i) => i + 1);
const diskKinds = process.argv[4] === undefined ? "default" : process.argv[4];
const suites: Suite[] = [];
if (diskKinds !== "none") suites.push(diskSuite(scenarioSuite(seedList, [intervalMs], {}, kindsOf(diskKinds))));
if (process.argv[5] === "memory") suites.push(memorySuite(memoryScenarioSuite(seedList, [intervalMs])));
const label = (s: Series): string => s.name.replaceAll("/", "_");

for (const suite of suites) {
  const ansai = await ansaiFirings(suite);
  const prom = await prometheusFirings(suite);
  const days = Math.max(...suite.scenarios.map((s) => s.durationMs)) / (24 * HOUR);
  console.log(`\n${suite.title}: ${suite.scenarios.length} scenarios (${seeds} seeds × ${new Set(suite.scenarios.map((s) => s.kind)).size} kinds, ${intervalMs / 1000} s samples, ${days} days each)\n`);
  console.log("| scored from | system | exhaustions caught ≥ 30 min ahead | median lead time | median ETA error at first alert | false alarms | false alarms per series-week |");
  console.log("|---|---|---:|---:|---:|---:|---:|");
  for (const [from, warmupMs] of suite.scoredFrom) {
    for (const [name, firings] of [["ANSAI default rules", ansai], [suite.prometheusName, prom]] as const) {
      const sum = summarise(suite.scenarios, firings, warmupMs);
      console.log(
        `| ${from} | ${name} | ${sum.caught}/${sum.exhaustions} | ${sum.medianLeadH.toFixed(1)} h | ${(100 * sum.medianEtaError).toFixed(1)} % | ${sum.falseAlarms} | ${(sum.falseAlarms / sum.seriesWeeks).toFixed(3)} |`,
      );
    }
  }
  console.log(`\nFalse alarms by scenario kind from the ${suite.scoredFrom[0]![0]} (ANSAI / Prometheus):`);
  for (const kind of new Set(suite.scenarios.map((s) => s.kind))) {
    const of = (f: Map<string, Firing[]>): number => suite.scenarios.filter((s) => s.kind === kind).reduce((n, s) => n + falseOf(s, f.get(label(s)) ?? []).length, 0);
    console.log(`- ${kind}: ${of(ansai)} / ${of(prom)}`);
  }
}

function diskSuite(scenarios: Scenario[]): Suite {
  return {
    title: "Disk full",
    scenarios,
    rules: defaultRules.filter((r) => r.match.measurement === "disk" && r.match.field === "used_percent"),
    point: (_s, value, timeMs, tags) => ({ measurement: "disk", tags, fields: { used_percent: value }, timeMs }),
    tag: "path",
    families: [
      ["node_filesystem_avail_bytes", (s, i) => Math.round(SIZE_BYTES * (1 - s.values[i]! / 100))],
      ["node_filesystem_size_bytes", () => SIZE_BYTES],
      ["node_filesystem_readonly", () => 0],
    ],
    conditions: [24, 4].map(
      (horizonH, k) =>
        `node_filesystem_avail_bytes / node_filesystem_size_bytes * 100 < ${k === 0 ? 40 : 20} and predict_linear(node_filesystem_avail_bytes[6h], ${horizonH} * 3600) < 0 and node_filesystem_readonly == 0`,
    ),
    // predict_linear's own ETA: the same least squares, as time until avail reaches 0.
    etaSeconds: "node_filesystem_avail_bytes / -deriv(node_filesystem_avail_bytes[6h])",
    prometheusName: "Prometheus node-mixin",
    scoredFrom: [
      ["first sample", 0],
      ["day 2", 2 * 24 * HOUR],
    ],
  };
}

function memorySuite(scenarios: Series[]): Suite {
  const rss = "process_resident_memory_bytes";
  const limit = "process_memory_limit_bytes";
  return {
    title: "Process memory to its limit",
    scenarios,
    rules: defaultRules.filter((r) => r.match.measurement === "procstat" && r.match.field === "memory_rss"),
    point: (s, value, timeMs, tags) => ({ measurement: "procstat", tags, fields: { memory_rss: value, memory_limit: s.threshold }, timeMs }),
    tag: "process_name",
    families: [
      [rss, (s, i) => s.values[i]!],
      [limit, (s) => s.threshold],
    ],
    conditions: [24, 4].map((horizonH, k) => `${rss} / ${limit} * 100 > ${k === 0 ? 60 : 80} and predict_linear(${rss}[6h], ${horizonH} * 3600) > ${limit}`),
    etaSeconds: `(${limit} - ${rss}) / deriv(${rss}[6h])`,
    prometheusName: "Prometheus predict_linear (node-mixin shape)",
    scoredFrom: [["process start", 0]],
  };
}

function kindsOf(arg: string): readonly ScenarioKind[] {
  if (arg === "default") return SCENARIO_KINDS;
  if (arg === "extra") return EXTRA_SCENARIO_KINDS;
  if (arg === "all") return [...SCENARIO_KINDS, ...EXTRA_SCENARIO_KINDS];
  const known: readonly string[] = [...SCENARIO_KINDS, ...EXTRA_SCENARIO_KINDS];
  const kinds = arg.split(",");
  const unknown = kinds.filter((k) => !known.includes(k));
  if (unknown.length > 0) throw new Error(`unknown scenario kinds ${unknown.join(", ")}: use default, extra, all, none or some of ${known.join(", ")}`);
  return kinds as ScenarioKind[];
}

async function ansaiFirings(suite: Suite): Promise<Map<string, Firing[]>> {
  const byTag = new Map(suite.scenarios.map((s) => [label(s), label(s)]));
  const tagRe = new RegExp(`${suite.tag}=([^ ,]+)`);
  const out = new Map<string, Firing[]>();
  for await (const t of backtest(interleave(suite), { rules: suite.rules, evaluationIntervalMs: EVAL_MS, log: pino({ level: "silent" }) })) {
    if (t.state !== "firing") continue;
    const name = byTag.get(tagRe.exec(t.series)?.[1]?.replace(/^\//, "") ?? "")!;
    const list = out.get(name) ?? [];
    list.push({ timeMs: t.timeMs, etaMs: t.etaMs });
    out.set(name, list);
  }
  return out;
}

/** All scenarios as one time-ordered stream of points, one series per scenario. */
async function* interleave(suite: Suite): AsyncGenerator<Point[]> {
  const scenarios = suite.scenarios;
  const idx = scenarios.map(() => 0);
  const tags = scenarios.map((s) => ({ host: "h1", [suite.tag]: suite.tag === "path" ? `/${label(s)}` : label(s) }));
  for (;;) {
    let t = Infinity;
    for (let i = 0; i < scenarios.length; i++) t = Math.min(t, scenarios[i]!.timesMs[idx[i]!] ?? Infinity);
    if (t === Infinity) return;
    const batch: Point[] = [];
    for (let i = 0; i < scenarios.length; i++) {
      const s = scenarios[i]!;
      if (s.timesMs[idx[i]!] !== t) continue;
      batch.push(suite.point(s, s.values[idx[i]!]!, t, tags[i]!));
      idx[i]!++;
    }
    yield batch;
  }
}

async function prometheusFirings(suite: Suite): Promise<Map<string, Firing[]>> {
  const scenarios = suite.scenarios;
  const prometheus = requireDebianBinary("prometheus", "prometheus");
  const promtool = requireDebianBinary("promtool", "prometheus");
  const dir = mkdtempSync(path.join(tmpdir(), "ansai-bench-prom-"));
  try {
    backfill(promtool, suite, dir);
    writeFileSync(path.join(dir, "prometheus.yml"), "global: {}\n");
    const port = await freePort();
    const proc = startProc(
      "prometheus",
      prometheus,
      [
        `--config.file=${path.join(dir, "prometheus.yml")}`,
        `--storage.tsdb.path=${path.join(dir, "tsdb")}`,
        "--storage.tsdb.retention.time=100y",
        `--web.listen-address=127.0.0.1:${port}`,
        "--query.max-samples=500000000",
      ],
      dir,
    );
    const base = `http://127.0.0.1:${port}`;
    try {
      await waitReady(proc, async () => (await fetch(`${base}/-/ready`)).ok, 120_000);
      const start = Math.min(...scenarios.map((s) => s.startMs));
      const end = Math.max(...scenarios.map((s) => s.startMs + s.durationMs));
      const conditions = [];
      for (const c of suite.conditions) conditions.push(await queryRange(base, c, start, end));
      const eta = await queryRange(base, suite.etaSeconds, start, end);
      const out = new Map<string, Firing[]>();
      for (const s of scenarios) {
        const name = label(s);
        const starts = conditions.flatMap((c) => forStarts(c.get(name), start, end)).sort((a, b) => a - b);
        const etas = eta.get(name);
        out.set(
          name,
          starts.map((t) => {
            const left = etas?.get(t);
            return { timeMs: t, etaMs: left !== undefined && Number.isFinite(left) && left >= 0 ? t + left * 1000 : null };
          }),
        );
      }
      return out;
    } finally {
      await proc.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Writes the scenarios as OpenMetrics and turns them into TSDB blocks with promtool. */
function backfill(promtool: string, suite: Suite, dir: string): void {
  const lines: string[] = [];
  for (const [name, value] of suite.families) {
    lines.push(`# TYPE ${name} gauge`);
    for (const s of suite.scenarios) {
      for (let i = 0; i < s.timesMs.length; i++) lines.push(`${name}{scenario="${label(s)}"} ${value(s, i)} ${s.timesMs[i]! / 1000}`);
    }
  }
  lines.push("# EOF");
  const file = path.join(dir, "data.om");
  writeFileSync(file, lines.join("\n") + "\n");
  const res = spawnSync(promtool, ["tsdb", "create-blocks-from", "openmetrics", file, path.join(dir, "tsdb")], { encoding: "utf8" });
  if (res.status !== 0) throw new Error(`promtool backfill failed: ${res.stderr || res.stdout}`);
}

/** Per scenario: the value at each step where the expression returned one. */
async function queryRange(base: string, query: string, startMs: number, endMs: number): Promise<Map<string, Map<number, number>>> {
  const out = new Map<string, Map<number, number>>();
  // Prometheus answers at most 11,000 steps per query: ask in week-long pieces.
  for (let from = startMs; from < endMs; from += WEEK) {
    const to = Math.min(endMs, from + WEEK - EVAL_MS);
    const params = new URLSearchParams({ query, start: String(from / 1000), end: String(to / 1000), step: `${EVAL_MS / 1000}s` });
    const res = await fetch(`${base}/api/v1/query_range`, { method: "POST", body: params });
    const body = (await res.json()) as { status: string; error?: string; data: { result: Array<{ metric: Record<string, string>; values: Array<[number, string]> }> } };
    if (body.status !== "success") throw new Error(`Prometheus query failed: ${body.error ?? res.status}: ${query}`);
    for (const r of body.data.result) {
      const name = r.metric.scenario!;
      const m = out.get(name) ?? new Map<number, number>();
      for (const [t, v] of r.values) m.set(Math.round(t * 1000), Number(v));
      out.set(name, m);
    }
  }
  return out;
}

/** The times alerts start firing under a 1 h `for`, from the steps where the condition held. */
function forStarts(active: Map<number, number> | undefined, startMs: number, endMs: number): number[] {
  if (!active) return [];
  const starts: number[] = [];
  let since: number | null = null;
  let firing = false;
  for (let t = startMs; t <= endMs; t += EVAL_MS) {
    if (!active.has(t)) {
      since = null;
      firing = false;
      continue;
    }
    since ??= t;
    if (!firing && t - since >= HOUR) {
      firing = true;
      starts.push(t);
    }
  }
  return starts;
}

function falseOf(s: Series, firings: Firing[]): Firing[] {
  return firings.filter((f) => s.exhaustionMs === null || s.exhaustionMs - f.timeMs > FALSE_MARGIN_MS);
}

/** Scores alerts fired from `warmupMs` after each scenario's start. */
function summarise(scenarios: Series[], firings: Map<string, Firing[]>, warmupMs: number): Summary {
  const leads: number[] = [];
  const errors: number[] = [];
  let caught = 0;
  let exhaustions = 0;
  let falseAlarms = 0;
  let seriesWeeks = 0;
  for (const s of scenarios) {
    const fromMs = s.startMs + warmupMs;
    const f = (firings.get(label(s)) ?? []).filter((x) => x.timeMs >= fromMs && (s.exhaustionMs === null || x.timeMs < s.exhaustionMs));
    const bad = falseOf(s, f);
    falseAlarms += bad.length;
    seriesWeeks += ((s.exhaustionMs ?? s.startMs + s.durationMs) - fromMs) / WEEK;
    // Exhaustions before the scored span (a runaway on day 1, scored from day 2) cannot be caught in it.
    if (s.exhaustionMs === null || s.exhaustionMs >= s.startMs + s.durationMs || s.exhaustionMs <= fromMs) continue;
    exhaustions++;
    const first = f.find((x) => !bad.includes(x));
    if (!first) continue;
    const lead = s.exhaustionMs - first.timeMs;
    if (lead >= CAUGHT_LEAD_MS) caught++;
    leads.push(lead / HOUR);
    errors.push(first.etaMs === null ? Infinity : Math.abs(first.etaMs - s.exhaustionMs) / lead);
  }
  return { caught, exhaustions, medianLeadH: median(leads), medianEtaError: median(errors), falseAlarms, seriesWeeks };
}

function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
