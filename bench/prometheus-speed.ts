/**
 * Rule evaluation speed beside Prometheus: 6 h of 15 s samples for N disk series, one 24 h-horizon
 * rule. Prometheus (Debian's, data backfilled with promtool) evaluates
 * `predict_linear(node_filesystem_avail_bytes[6h], 86400) < 0` as an instant query; ANSAI
 * evaluates its default `disk_full_24h` rule over the same series after feeding them (the
 * incremental part: ns per sample inside `write()`; the bench's own cost of filling in the points,
 * a Math.sin per sample and a store into each point object, is timed apart).
 *
 * Run: `npx tsx bench/prometheus-speed.ts [series=10000]` (a list such as 10000,100000 for more sizes).
 * `--ansai-only` skips Prometheus (its backfill takes minutes): ANSAI's figures alone, with the
 * write cost split into the first step (series creation) and the steady state, the bench's point
 * filling beside it, and the rule's model fed the same values directly (no engine), so the
 * engine's share of a write is the difference.
 */
import { spawnSync } from "node:child_process";
import { createWriteStream, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { once } from "node:events";
import { tmpdir } from "node:os";
import path from "node:path";
import pino from "pino";
import { defaultRules } from "../src/analyzer/default-rules.js";
import { createAnalyzer } from "../src/analyzer/engine.js";
import { createModel } from "../src/analyzer/models/index.js";
import type { Point } from "../src/core/point.js";
import { requireDebianBinary } from "../test/support/debian.js";
import { freePort } from "../test/support/ports.js";
import { startProc, waitReady } from "./support.js";

const STEP_MS = 15_000;
const SAMPLES = 1440;
const T0 = 1_700_000_000_000;
const END_MS = T0 + (SAMPLES - 1) * STEP_MS;
const SIZE = 100 * 2 ** 30;
const REPEATS = 5;
const BACKFILL_SERIES = 10_000;
const RULE = defaultRules.find((r) => r.name === "disk_full_24h")!;

/** Used percent of series i at sample k: a slow fill at a per-series rate, with a little noise. */
const usedPercent = (i: number, k: number): number => 20 + ((i % 97) / 97) * 30 + (k * ((i % 13) + 1)) / 2000 + Math.sin(i * 31 + k) * 0.05;

const args = process.argv.slice(2);
const ansaiOnly = args.includes("--ansai-only");
const counts = (args.find((a) => !a.startsWith("--")) ?? "10000").split(",").map(Number);
if (ansaiOnly) {
  console.log(
    "| series | samples | ANSAI evaluate (ms, median of 5) | ANSAI write (ns/sample) | first step (ms) | after the first step (ns/sample) | of which the model alone (ns/sample) | bench filling the points (ns/sample) |",
  );
  console.log("|---:|---:|---:|---:|---:|---:|---:|---:|");
} else {
  console.log("| series | samples | Prometheus predict_linear (ms, median of 5) | ANSAI evaluate (ms, median of 5) | ratio | ANSAI write (ns/sample) |");
  console.log("|---:|---:|---:|---:|---:|---:|");
}
for (const n of counts) {
  const ansai = measureAnsai(n);
  if (ansaiOnly) {
    const modelNs = measureModelAlone(n);
    console.log(
      `| ${n.toLocaleString("en")} | ${(n * SAMPLES).toLocaleString("en")} | ${ansai.evalMs.toFixed(0)} | ${ansai.nsPerSample.toFixed(0)} | ${ansai.firstStepMs.toFixed(0)} | ${ansai.steadyNsPerSample.toFixed(0)} | ${modelNs.toFixed(0)} | ${ansai.fillNsPerSample.toFixed(0)} |`,
    );
    continue;
  }
  const promMs = await measurePrometheus(n);
  console.log(`| ${n.toLocaleString("en")} | ${(n * SAMPLES).toLocaleString("en")} | ${promMs.toFixed(0)} | ${ansai.evalMs.toFixed(0)} | ${(promMs / ansai.evalMs).toFixed(1)}× | ${ansai.nsPerSample.toFixed(0)} |`);
}

interface AnsaiSpeed {
  evalMs: number;
  /** Inside write(), over all steps. */
  nsPerSample: number;
  /** The first write(): every series created. */
  firstStepMs: number;
  /** Inside write(), after the first step. */
  steadyNsPerSample: number;
  /** The bench's own filling of the points before each write(), after the first step. */
  fillNsPerSample: number;
}

function measureAnsai(n: number): AnsaiSpeed {
  const analyzer = createAnalyzer({ rules: [RULE], log: pino({ level: "silent" }) });
  const points: Array<Point & { fields: Record<string, number> }> = [];
  for (let i = 0; i < n; i++) points.push({ measurement: "disk", tags: { host: `h${i % 1000}`, path: `/d${Math.floor(i / 1000)}` }, fields: { used_percent: 0 }, timeMs: 0 });
  let writeNs = 0;
  let fillNs = 0;
  let firstStepNs = 0;
  for (let k = 0; k < SAMPLES; k++) {
    const t = T0 + k * STEP_MS;
    const filling = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      const p = points[i]!;
      p.timeMs = t;
      p.fields.used_percent = usedPercent(i, k);
    }
    const writing = process.hrtime.bigint();
    analyzer.write(points);
    const ns = Number(process.hrtime.bigint() - writing);
    if (k === 0) firstStepNs = ns;
    else fillNs += Number(writing - filling);
    writeNs += ns;
  }
  const nsPerSample = writeNs / (n * SAMPLES);
  const steadyNsPerSample = (writeNs - firstStepNs) / (n * (SAMPLES - 1));
  const times: number[] = [];
  for (let r = 0; r < REPEATS; r++) {
    const s = performance.now();
    analyzer.evaluate(END_MS + r);
    times.push(performance.now() - s);
  }
  return { evalMs: median(times), nsPerSample, firstStepMs: firstStepNs / 1e6, steadyNsPerSample, fillNsPerSample: fillNs / (n * (SAMPLES - 1)) };
}

/** ns per sample of the rule's model fed the same values directly, after the first step: the write cost without the engine. */
function measureModelAlone(n: number): number {
  const model = createModel(RULE.model ?? "linear_trend", RULE.windowMs);
  const slots = Int32Array.from({ length: n }, () => model.allocate());
  const column = new Float64Array(n);
  let ns = 0;
  for (let k = 0; k < SAMPLES; k++) {
    const t = T0 + k * STEP_MS;
    for (let i = 0; i < n; i++) column[i] = usedPercent(i, k);
    const started = process.hrtime.bigint();
    for (let i = 0; i < n; i++) model.observe(slots[i]!, t, column[i]!);
    if (k > 0) ns += Number(process.hrtime.bigint() - started);
  }
  return ns / (n * (SAMPLES - 1));
}

async function measurePrometheus(n: number): Promise<number> {
  const prometheus = requireDebianBinary("prometheus", "prometheus");
  const promtool = requireDebianBinary("promtool", "prometheus");
  const dir = mkdtempSync(path.join(tmpdir(), "ansai-bench-promspeed-"));
  try {
    // Backfilled 10k series at a time (a 1 GB file each); Prometheus merges the overlapping blocks.
    for (let from = 0; from < n; from += BACKFILL_SERIES) {
      const file = path.join(dir, "data.om");
      const out = createWriteStream(file);
      const write = async (s: string): Promise<void> => {
        if (!out.write(s)) await once(out, "drain");
      };
      await write("# TYPE node_filesystem_avail_bytes gauge\n");
      for (let i = from; i < Math.min(n, from + BACKFILL_SERIES); i++) {
        let chunk = "";
        for (let k = 0; k < SAMPLES; k++) chunk += `node_filesystem_avail_bytes{host="h${i % 1000}",path="/d${Math.floor(i / 1000)}"} ${Math.round(SIZE * (1 - usedPercent(i, k) / 100))} ${(T0 + k * STEP_MS) / 1000}\n`;
        await write(chunk);
      }
      await write("# EOF\n");
      out.end();
      await once(out, "finish");
      const res = spawnSync(promtool, ["tsdb", "create-blocks-from", "openmetrics", file, path.join(dir, "tsdb")], { encoding: "utf8", maxBuffer: 1 << 26 });
      if (res.status !== 0) throw new Error(`promtool backfill failed: ${res.stderr || res.stdout}`);
      rmSync(file);
    }
    writeFileSync(path.join(dir, "prometheus.yml"), "global: {}\n");
    const port = await freePort();
    const proc = startProc(
      "prometheus",
      prometheus,
      [`--config.file=${path.join(dir, "prometheus.yml")}`, `--storage.tsdb.path=${path.join(dir, "tsdb")}`, "--storage.tsdb.retention.time=100y", `--web.listen-address=127.0.0.1:${port}`, "--query.max-samples=1000000000"],
      dir,
    );
    const base = `http://127.0.0.1:${port}`;
    try {
      await waitReady(proc, async () => (await fetch(`${base}/-/ready`)).ok, 300_000);
      const query = "predict_linear(node_filesystem_avail_bytes[6h], 86400) < 0";
      const times: number[] = [];
      for (let r = 0; r <= REPEATS; r++) {
        const params = new URLSearchParams({ query, time: String(END_MS / 1000) });
        const s = performance.now();
        const res = await fetch(`${base}/api/v1/query`, { method: "POST", body: params });
        const body = (await res.json()) as { status: string; error?: string };
        if (body.status !== "success") throw new Error(`Prometheus query failed: ${body.error}`);
        // The first run loads the blocks' chunks into the page cache: not counted.
        if (r > 0) times.push(performance.now() - s);
      }
      return median(times);
    } finally {
      await proc.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}
