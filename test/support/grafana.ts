import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

// Reads the provisioned dashboards and expands their InfluxQL the way Grafana does, so tests can
// run every query against ANSAI's /query and against InfluxDB and compare.

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** grafana/dashboards in this repository. */
export const DASHBOARDS_DIR = path.join(ROOT, "grafana/dashboards");

/** One dashboard file, parsed. */
export interface DashboardFile {
  file: string;
  json: GrafanaDashboard;
}

/** The parts of Grafana's dashboard JSON these helpers read. */
export interface GrafanaDashboard {
  uid: string;
  title: string;
  panels?: GrafanaPanel[];
  templating?: { list?: GrafanaVariable[] };
  [key: string]: unknown;
}

export interface GrafanaPanel {
  id?: number;
  type: string;
  title?: string;
  datasource?: { type?: string; uid?: string };
  targets?: GrafanaTarget[];
  panels?: GrafanaPanel[];
  [key: string]: unknown;
}

export interface GrafanaTarget {
  refId: string;
  datasource?: { type?: string; uid?: string };
  rawQuery?: boolean;
  query?: string;
  resultFormat?: string;
  [key: string]: unknown;
}

export interface GrafanaVariable {
  name: string;
  type: string;
  query?: string | Record<string, unknown>;
  datasource?: { type?: string; uid?: string };
  multi?: boolean;
  includeAll?: boolean;
  [key: string]: unknown;
}

/** One InfluxQL statement of a dashboard: a panel target or a template variable's query. */
export interface DashboardQuery {
  dashboardUid: string;
  file: string;
  kind: "panel" | "variable";
  /** Panel title and target refId, or the variable's name. */
  where: string;
  /** "table" or "time_series" for panels; "variable" for template variables. */
  format: string;
  /** The query as stored in the dashboard. */
  raw: string;
  /** The query as Grafana sends it to the datasource. */
  query: string;
}

/** Time range and variable values to expand queries with. */
export interface ExpandOptions {
  fromMs: number;
  toMs: number;
  /** Grafana's $__interval for the panel, e.g. "10s", "1m". */
  interval: string;
  /** Selected values of each template variable (the "All" option means every value). */
  variables: Readonly<Record<string, readonly string[]>>;
}

/** Every dashboard under `dir`, sorted by file name. */
export function readDashboards(dir: string = DASHBOARDS_DIR): DashboardFile[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".json"))
    .sort()
    .map((f) => ({ file: path.join(dir, f), json: JSON.parse(readFileSync(path.join(dir, f), "utf8")) as GrafanaDashboard }));
}

/** Panels of a dashboard, with those nested in collapsed rows. */
export function allPanels(d: GrafanaDashboard): GrafanaPanel[] {
  return (d.panels ?? []).flatMap((p) => [p, ...(p.panels ?? [])]);
}

/** Grafana's escapeRegex (@grafana/data): what the InfluxDB datasource applies to each variable value. */
export function escapeRegex(value: string): string {
  return value.replace(/[\\^$*+?.()|[\]{}/]/g, "\\$&");
}

/** A multi-value variable as the InfluxDB datasource formats it: `(a|b)`, each value regex-escaped. */
export function formatMultiValue(values: readonly string[]): string {
  return `(${values.map(escapeRegex).join("|")})`;
}

/** Grafana's $timeFilter for the InfluxQL datasource: inclusive bounds in epoch milliseconds. */
export function timeFilter(fromMs: number, toMs: number): string {
  return `time >= ${Math.trunc(fromMs)}ms and time <= ${Math.trunc(toMs)}ms`;
}

/** Replaces Grafana's macros and the template variables in one query; throws on a variable without values. */
export function expandQuery(raw: string, opts: ExpandOptions): string {
  const intervalMs = intervalToMs(opts.interval);
  return raw.replace(/\$(\w+)/g, (match, name: string) => {
    if (name === "timeFilter") return timeFilter(opts.fromMs, opts.toMs);
    if (name === "__interval") return opts.interval;
    if (name === "__interval_ms") return String(intervalMs);
    const values = opts.variables[name];
    if (values === undefined) throw new Error(`no values given for template variable $${name} in: ${raw}`);
    if (values.length === 0) throw new Error(`template variable $${name} needs at least one value`);
    return formatMultiValue(values);
  });
}

/** Names of the template variables the dashboards declare, in order of first appearance. */
export function dashboardVariableNames(dashboards: DashboardFile[] = readDashboards()): string[] {
  const names = dashboards.flatMap((d) => (d.json.templating?.list ?? []).map((v) => v.name));
  return [...new Set(names)];
}

function variableQueryText(v: GrafanaVariable): string | undefined {
  if (typeof v.query === "string") return v.query;
  const q = v.query?.query;
  return typeof q === "string" ? q : undefined;
}

/**
 * Every InfluxQL statement of every dashboard, expanded as Grafana would send it: first each
 * dashboard's template-variable queries, then each panel target.
 */
export function listDashboardQueries(opts: ExpandOptions, dashboards: DashboardFile[] = readDashboards()): DashboardQuery[] {
  const out: DashboardQuery[] = [];
  for (const { file, json } of dashboards) {
    for (const v of json.templating?.list ?? []) {
      const raw = variableQueryText(v);
      if (v.type !== "query" || raw === undefined) continue;
      out.push({ dashboardUid: json.uid, file, kind: "variable", where: `$${v.name}`, format: "variable", raw, query: expandQuery(raw, opts) });
    }
    for (const panel of allPanels(json)) {
      for (const t of panel.targets ?? []) {
        if (typeof t.query !== "string") continue;
        out.push({
          dashboardUid: json.uid,
          file,
          kind: "panel",
          where: `${panel.title ?? `panel ${panel.id ?? "?"}`} [${t.refId}]`,
          format: t.resultFormat ?? "time_series",
          raw: t.query,
          query: expandQuery(t.query, opts),
        });
      }
    }
  }
  return out;
}

function intervalToMs(interval: string): number {
  const m = /^(\d+)(ms|s|m|h|d|w)$/.exec(interval);
  if (!m) throw new Error(`not a Grafana interval: ${interval} (expected e.g. 10s, 1m)`);
  const unitMs = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[m[2] as "ms" | "s" | "m" | "h" | "d" | "w"];
  return Number(m[1]) * unitMs;
}
