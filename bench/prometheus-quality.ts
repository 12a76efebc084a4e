/**
 * Disk-full alert quality, side by side: ANSAI's default disk rules (replayed by `backtest`, the
 * live code path) and the Prometheus node-mixin rules evaluated by a real Prometheus from Debian
 * over the same seeded scenarios (src/analyzer/models/scenarios.ts).
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
 * Run: `npx tsx bench/prometheus-quality.ts [seeds=10] [intervalS=60]`.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import path from "node:path";
import pino from "pino";
import { backtest } from "../src/analyzer/backtest.js";
import { defaultRules } from "../src/analyzer/default-rules.js";
import { scenarioSuite, type Scenario } from "../src/analyzer/models/scenarios.js";
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

const seeds = Number(process.argv[2] ?? 10);
const intervalMs = Number(process.argv[3] ?? 60) * 1000;
const suite = scenarioSuite(
  Array.from({ length: seeds }, (_, i) => i + 1),
  [intervalMs],
);
const label = (s: Scenario): string => s.name.replaceAll("/", "_");

const ansai = await ansaiFirings(suite);
const prom = await prometheusFirings(suite);
console.log(`${suite.length} scenarios (${seeds} seeds × ${new Set(suite.map((s) => s.kind)).size} kinds, ${intervalMs / 1000} s samples, 7 days each)\n`);
console.log("| scored from | system | exhaustions caught ≥ 30 min ahead | median lead time | median ETA error at first alert | false alarms | false alarms per series-week |");
console.log("|---|---|---:|---:|---:|---:|---:|");
for (const [from, warmupMs] of [["first sample", 0], ["day 2", 2 * 24 * HOUR]] as const) {
  for (const [name, firings] of [["ANSAI default rules", ansai], ["Prometheus node-mixin", prom]] as const) {
    const s = summarise(suite, firings, warmupMs);
    console.log(
      `| ${from} | ${name} | ${s.caught}/${s.exhaustions} | ${s.medianLeadH.toFixed(1)} h | ${(100 * s.medianEtaError).toFixed(1)} % | ${s.falseAlarms} | ${(s.falseAlarms / s.seriesWeeks).toFixed(3)} |`,
    );
  }
}
console.log("\nFalse alarms by scenario kind from the first sample (ANSAI / Prometheus):");
for (const kind of new Set(suite.map((s) => s.kind))) {
  const of = (f: Map<string, Firing[]>): number => suite.filter((s) => s.kind === kind).reduce((n, s) => n + falseOf(s, f.get(label(s)) ?? []).length, 0);
  console.log(`- ${kind}: ${of(ansai)} / ${of(prom)}`);
}

async function ansaiFirings(scenarios: Scenario[]): Promise<Map<string, Firing[]>> {
  const rules = defaultRules.filter((r) => r.match.measurement === "disk" && r.match.field === "used_percent");
  const byPath = new Map(scenarios.map((s) => [`/${label(s)}`, label(s)]));
  const out = new Map<string, Firing[]>();
  for await (const t of backtest(interleave(scenarios), { rules, evaluationIntervalMs: EVAL_MS, log: pino({ level: "silent" }) })) {
    if (t.state !== "firing") continue;
    const name = byPath.get(/path=([^ ,]+)/.exec(t.series)?.[1] ?? "")!;
    const list = out.get(name) ?? [];
    list.push({ timeMs: t.timeMs, etaMs: t.etaMs });
    out.set(name, list);
  }
  return out;
}

/** All scenarios as one time-ordered stream of disk points, one series (path) per scenario. */
async function* interleave(scenarios: Scenario[]): AsyncGenerator<Point[]> {
  const idx = scenarios.map(() => 0);
  const tags = scenarios.map((s) => ({ host: "h1", path: `/${label(s)}` }));
  for (;;) {
    let t = Infinity;
    for (let i = 0; i < scenarios.length; i++) t = Math.min(t, scenarios[i]!.timesMs[idx[i]!] ?? Infinity);
    if (t === Infinity) return;
    const batch: Point[] = [];
    for (let i = 0; i < scenarios.length; i++) {
      const s = scenarios[i]!;
      if (s.timesMs[idx[i]!] !== t) continue;
      batch.push({ measurement: "disk", tags: tags[i]!, fields: { used_percent: s.values[idx[i]!]! }, timeMs: t });
      idx[i]!++;
    }
    yield batch;
  }
}

async function prometheusFirings(scenarios: Scenario[]): Promise<Map<string, Firing[]>> {
  const prometheus = requireDebianBinary("prometheus", "prometheus");
  const promtool = requireDebianBinary("promtool", "prometheus");
  const dir = mkdtempSync(path.join(tmpdir(), "ansai-bench-prom-"));
  try {
    backfill(promtool, scenarios, dir);
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
      const cond = (pct: number, horizonH: number): string =>
        `node_filesystem_avail_bytes / node_filesystem_size_bytes * 100 < ${pct} and predict_linear(node_filesystem_avail_bytes[6h], ${horizonH} * 3600) < 0 and node_filesystem_readonly == 0`;
      const warning = await queryRange(base, cond(40, 24), start, end);
      const critical = await queryRange(base, cond(20, 4), start, end);
      // predict_linear's own ETA: the same least squares, as time until avail reaches 0.
      const eta = await queryRange(base, "node_filesystem_avail_bytes / -deriv(node_filesystem_avail_bytes[6h])", start, end);
      const out = new Map<string, Firing[]>();
      for (const s of scenarios) {
        const name = label(s);
        const starts = [...forStarts(warning.get(name), start, end), ...forStarts(critical.get(name), start, end)].sort((a, b) => a - b);
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
function backfill(promtool: string, scenarios: Scenario[], dir: string): void {
  const lines: string[] = [];
  const family = (name: string, value: (s: Scenario, i: number) => number): void => {
    lines.push(`# TYPE ${name} gauge`);
    for (const s of scenarios) {
      for (let i = 0; i < s.timesMs.length; i++) lines.push(`${name}{scenario="${label(s)}"} ${value(s, i)} ${s.timesMs[i]! / 1000}`);
    }
  };
  family("node_filesystem_avail_bytes", (s, i) => Math.round(SIZE_BYTES * (1 - s.values[i]! / 100)));
  family("node_filesystem_size_bytes", () => SIZE_BYTES);
  family("node_filesystem_readonly", () => 0);
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

function falseOf(s: Scenario, firings: Firing[]): Firing[] {
  return firings.filter((f) => s.exhaustionMs === null || s.exhaustionMs - f.timeMs > FALSE_MARGIN_MS);
}

/** Scores alerts fired from `warmupMs` after each scenario's start. */
function summarise(scenarios: Scenario[], firings: Map<string, Firing[]>, warmupMs: number): Summary {
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
    if (s.exhaustionMs === null || s.exhaustionMs >= s.startMs + s.durationMs) continue;
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
