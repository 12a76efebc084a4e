import { z } from "zod";
import type { CollectContext, Collector } from "../core/contracts.js";
import type { Point } from "../core/point.js";
import { duration, durationMs, regex } from "../config/zod-types.js";
import { parsePrometheusText, type Sample } from "./ingest/prometheus-text.js";

/** What we ask exporters for: the text format every exporter speaks. */
export const PROMETHEUS_ACCEPT = "text/plain;version=0.0.4";

const labelName = z.string().regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/, "expected a label name: letters, digits and _");

const dropKeepRule = z
  .strictObject({
    action: z.enum(["drop", "keep"]).describe("drop: discard matching samples; keep: discard the others."),
    metric: regex.optional().describe("Regular expression matched against the whole metric name."),
    label: labelName.optional().describe("Label whose value is tested; without regex: the label must be present."),
    regex: regex.optional().describe("Regular expression matched against the whole value of `label` (absent reads \"\")."),
  })
  .refine((r) => r.metric !== undefined || r.label !== undefined, { message: "give metric, label, or both" })
  .refine((r) => r.regex === undefined || r.label !== undefined, { message: "regex needs label: it tests that label's value" });

const relabelRule = z.union([
  dropKeepRule,
  z.strictObject({
    action: z.literal("rename_label"),
    from: labelName.describe("Label to rename."),
    to: labelName.describe("Its new name; replaces a label of that name."),
  }),
  z.strictObject({ action: z.literal("drop_label"), label: labelName.describe("Label to remove.") }),
  z.strictObject({
    action: z.literal("replace"),
    label: labelName.describe("Label to rewrite (absent reads \"\")."),
    regex: regex.describe("Regular expression matched against the whole value; no match leaves the label as is."),
    replacement: z.string().describe("New value; $1, $2 ... are the regex's groups. An empty result removes the label."),
  }),
]);

const target = z.strictObject({
  url: z.url({ protocol: /^https?$/ }).describe("Metrics endpoint, e.g. http://127.0.0.1:9100/metrics; also the `url` tag."),
  timeout: duration.default("5s").describe("Give up on a scrape after this long."),
  labels: z.record(labelName, z.string()).default({}).describe("Extra tags on every sample; they replace the exporter's labels of the same name."),
  honor_timestamps: z.boolean().default(true).describe("Use timestamps the exporter gives; false: stamp every sample with the scrape time."),
  relabel: z.array(relabelRule).default([]).describe("Rules applied in order to each sample's labels (after `labels`)."),
});

/** The `collectors.prometheus` config section. */
export const prometheusConfigSchema = z.strictObject({
  enabled: z.boolean().default(false).describe("Scrape Prometheus exporters."),
  targets: z.array(target).default([]).describe("Exporters to scrape each interval."),
});

export type PrometheusConfig = z.output<typeof prometheusConfigSchema>;
export type RelabelRuleConfig = z.output<typeof relabelRule>;

/** A relabelling rule with its regular expressions compiled and anchored. */
export type CompiledRelabelRule =
  | { action: "drop" | "keep"; metric?: RegExp; label?: string; value?: RegExp }
  | { action: "rename_label"; from: string; to: string }
  | { action: "drop_label"; label: string }
  | { action: "replace"; label: string; re: RegExp; replacement: string };

// Anchored like Prometheus: the rule must match the whole name or value.
const anchored = (source: string): RegExp => new RegExp(`^(?:${source})$`);

/** Compiles rules once; the schema already checked every regex. */
export function compileRelabel(rules: readonly RelabelRuleConfig[]): CompiledRelabelRule[] {
  return rules.map((r): CompiledRelabelRule => {
    switch (r.action) {
      case "drop":
      case "keep":
        return {
          action: r.action,
          ...(r.metric !== undefined && { metric: anchored(r.metric) }),
          ...(r.label !== undefined && { label: r.label }),
          ...(r.regex !== undefined && { value: anchored(r.regex) }),
        };
      case "replace":
        return { action: "replace", label: r.label, re: anchored(r.regex), replacement: r.replacement };
      default:
        return r;
    }
  });
}

function matches(rule: { metric?: RegExp; label?: string; value?: RegExp }, name: string, labels: Record<string, string>): boolean {
  if (rule.metric !== undefined && !rule.metric.test(name)) return false;
  if (rule.label === undefined) return true;
  const value = labels[rule.label];
  if (rule.value === undefined) return value !== undefined && value !== "";
  return rule.value.test(value ?? "");
}

/**
 * Applies rules in order to one sample's labels, changing `labels` in place.
 * Returns false when a drop or keep rule discards the sample.
 */
export function applyRelabel(rules: readonly CompiledRelabelRule[], name: string, labels: Record<string, string>): boolean {
  for (const r of rules) {
    switch (r.action) {
      case "drop":
        if (matches(r, name, labels)) return false;
        break;
      case "keep":
        if (!matches(r, name, labels)) return false;
        break;
      case "rename_label": {
        const v = labels[r.from];
        if (v === undefined) break;
        delete labels[r.from];
        labels[r.to] = v;
        break;
      }
      case "drop_label":
        delete labels[r.label];
        break;
      case "replace": {
        const old = labels[r.label] ?? "";
        if (!r.re.test(old)) break;
        const next = old.replace(r.re, r.replacement);
        if (next === "") delete labels[r.label];
        else labels[r.label] = next;
        break;
      }
    }
  }
  return true;
}

interface CompiledTarget {
  url: string;
  timeoutMs: number;
  labels: Readonly<Record<string, string>>;
  honorTimestamps: boolean;
  rules: CompiledRelabelRule[];
}

/** Result of one scrape, before it becomes points. */
interface Scrape {
  samples: Sample[];
  /** Lines the parser skipped. */
  skippedLines: number;
}

async function scrape(t: CompiledTarget, ctx: CollectContext): Promise<Scrape> {
  const res = await fetch(t.url, { headers: { Accept: PROMETHEUS_ACCEPT }, signal: AbortSignal.timeout(t.timeoutMs) });
  if (!res.ok) {
    await res.body?.cancel();
    throw new Error(`GET ${t.url}: HTTP ${res.status} ${res.statusText}`);
  }
  // fetch asks for gzip and inflates it; OpenMetrics timestamps are in seconds.
  const openMetrics = (res.headers.get("content-type") ?? "").startsWith("application/openmetrics-text");
  const parsed = parsePrometheusText(await res.text(), { timestampUnit: openMetrics ? "s" : "ms" });
  const first = parsed.errors[0];
  if (first !== undefined) {
    ctx.reportError(t.url, new Error(`${parsed.errors.length} line(s) of the exposition skipped; first, line ${first.line}: ${first.message}`));
  }
  return { samples: parsed.samples, skippedLines: parsed.errors.length };
}

function samplePoint(t: CompiledTarget, s: Sample, ctx: CollectContext): Point | undefined {
  // Line protocol and the store hold finite numbers only.
  if (!Number.isFinite(s.value)) return undefined;
  const tags = Object.assign(Object.create(null) as Record<string, string>, s.labels, t.labels);
  if (!applyRelabel(t.rules, s.name, tags)) return undefined;
  tags.url = t.url;
  tags.host ??= ctx.host;
  const timeMs = t.honorTimestamps && s.timestampMs !== undefined ? s.timestampMs : ctx.nowMs;
  return { measurement: "prometheus", tags, fields: { [s.name]: s.value }, timeMs };
}

function scrapePoint(t: CompiledTarget, ctx: CollectContext, fields: Record<string, number>): Point {
  return { measurement: "prometheus_scrape", tags: { url: t.url, host: ctx.host }, fields, timeMs: ctx.nowMs };
}

async function collectTarget(t: CompiledTarget, ctx: CollectContext): Promise<Point[]> {
  const startedMs = performance.now();
  let result: Scrape;
  try {
    result = await scrape(t, ctx);
  } catch (err) {
    ctx.reportError(t.url, err);
    const durationS = (performance.now() - startedMs) / 1000;
    return [scrapePoint(t, ctx, { scrape_up: 0, scrape_duration_seconds: durationS, samples_scraped: 0 })];
  }
  const durationS = (performance.now() - startedMs) / 1000;
  const points: Point[] = [];
  for (const s of result.samples) {
    const p = samplePoint(t, s, ctx);
    if (p !== undefined) points.push(p);
  }
  points.push(
    scrapePoint(t, ctx, {
      scrape_up: 1,
      scrape_duration_seconds: durationS,
      samples_scraped: result.samples.length,
      samples_emitted: points.length,
      lines_skipped: result.skippedLines,
    }),
  );
  return points;
}

/**
 * Scrapes Prometheus exporters like Telegraf's `inputs.prometheus` with metric_version 2:
 * measurement `prometheus`, one field per sample named after the metric (`x_bucket` with tag `le`,
 * `x_sum`, `x_count`; summaries keep tag `quantile`), labels as tags plus `url`. Non-finite values
 * are skipped. Per target, `prometheus_scrape` (tag url) carries scrape_up 0/1,
 * scrape_duration_seconds, samples_scraped (before relabelling), samples_emitted, lines_skipped.
 * Targets are scraped concurrently; a failing one is reported and the others go on.
 */
export function createPrometheusCollector(config: PrometheusConfig): Collector {
  const targets: CompiledTarget[] = config.targets.map((t) => ({
    url: t.url,
    timeoutMs: durationMs(t.timeout),
    labels: t.labels,
    honorTimestamps: t.honor_timestamps,
    rules: compileRelabel(t.relabel),
  }));
  return {
    name: "prometheus",
    async collect(ctx) {
      const perTarget = await Promise.all(targets.map((t) => collectTarget(t, ctx)));
      return perTarget.flat();
    },
  };
}
