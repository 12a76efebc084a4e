// Builds grafana/dashboards/*.json: one place for every dashboard's panels and InfluxQL.
// Run: npx tsx scripts/grafana-dashboards.ts   (test/integration/grafana.test.ts fails when the JSON drifts from this file)
//
// Every query stays inside the InfluxQL subset ANSAI's /query serves, so the same dashboards work
// on ANSAI's embedded store and on InfluxDB: SELECT with mean/max/min/last/count/sum, WHERE on
// $timeFilter and tags (regex for template variables), GROUP BY time($__interval) and tags, fill,
// SHOW TAG VALUES for the variables. No derivative(), no math in SELECT, no subqueries.
import { writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** Directory of the generated dashboards (provisioned by grafana/provisioning*\/dashboards/ansai.yaml). */
export const DASHBOARDS_DIR = path.join(ROOT, "grafana/dashboards");

/** The uid both provisioning variants give the InfluxQL datasource. */
export const DATASOURCE_UID = "ansai-influxql";

/** Dashboard JSON model version of Grafana 10.4 / 11.x; newer Grafana migrates it on load. */
export const SCHEMA_VERSION = 39;

const DS = { type: "influxdb", uid: DATASOURCE_UID } as const;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

interface Target {
  /** InfluxQL with Grafana's macros ($timeFilter, $__interval) and template variables. */
  query: string;
  /** Grafana's InfluxQL alias pattern: $tag_<key>, $col, $m. */
  alias?: string;
  /** "table" merges all series of the answer into one table with a column per tag. */
  format?: "time_series" | "table";
}

interface PanelSpec {
  title: string;
  type: "timeseries" | "stat" | "table" | "bargauge";
  description: string;
  /** Width in grid columns (of 24) and height in grid rows. */
  w: number;
  h: number;
  targets: Target[];
  unit?: string;
  fieldConfig?: JsonObject;
  options?: JsonObject;
  transformations?: JsonObject[];
}

interface VariableSpec {
  name: string;
  label: string;
  query: string;
}

interface DashboardSpec {
  uid: string;
  title: string;
  description: string;
  variables: VariableSpec[];
  panels: PanelSpec[];
}

/** The tag condition Grafana expands to `/^(a|b)$/` for a multi-value or "All" variable. */
function tagIs(tag: string, variable: string): string {
  return `"${tag}" =~ /^$${variable}$/`;
}

const HOST = tagIs("host", "host");

function hostVariable(): VariableSpec {
  return { name: "host", label: "Host", query: 'SHOW TAG VALUES FROM "cpu" WITH KEY = "host"' };
}

function variable(v: VariableSpec): JsonObject {
  return {
    type: "query",
    name: v.name,
    label: v.label,
    datasource: { ...DS },
    query: v.query,
    definition: v.query,
    refresh: 1,
    includeAll: true,
    multi: true,
    sort: 1,
    regex: "",
    hide: 0,
    skipUrlSync: false,
    current: { selected: true, text: ["All"], value: ["$__all"] },
    options: [],
  };
}

function target(t: Target, index: number): JsonObject {
  const out: JsonObject = {
    refId: String.fromCharCode(65 + index),
    datasource: { ...DS },
    rawQuery: true,
    query: t.query,
    resultFormat: t.format ?? "time_series",
  };
  if (t.alias !== undefined) out.alias = t.alias;
  return out;
}

function defaultOptions(type: PanelSpec["type"]): JsonObject {
  switch (type) {
    case "timeseries":
      return { legend: { displayMode: "table", placement: "bottom", showLegend: true, calcs: ["lastNotNull", "max"] }, tooltip: { mode: "multi", sort: "desc" } };
    case "stat":
      return { reduceOptions: { calcs: ["lastNotNull"], fields: "", values: false }, colorMode: "value", graphMode: "none", justifyMode: "auto", textMode: "auto", orientation: "auto" };
    case "table":
      return { showHeader: true, cellHeight: "sm", footer: { show: false, reducer: ["sum"], countRows: false, fields: "" } };
    case "bargauge":
      return { reduceOptions: { calcs: ["lastNotNull"], fields: "", values: false }, orientation: "horizontal", displayMode: "gradient", showUnfilled: true, valueMode: "color", namePlacement: "auto", sizing: "auto", minVizHeight: 16, minVizWidth: 8, maxVizHeight: 300 };
  }
}

function defaultFieldDefaults(type: PanelSpec["type"], unit: string | undefined): JsonObject {
  const base: JsonObject = {
    color: { mode: type === "timeseries" ? "palette-classic" : "thresholds" },
    thresholds: { mode: "absolute", steps: [{ color: "green", value: null }] },
    mappings: [],
  };
  if (unit !== undefined) base.unit = unit;
  if (type === "timeseries") {
    base.custom = { drawStyle: "line", lineInterpolation: "linear", lineWidth: 1, fillOpacity: 0, showPoints: "never", spanNulls: false, axisPlacement: "auto" };
  }
  return base;
}

/** Lays panels out left to right, wrapping at Grafana's 24 columns. */
function layout(panels: PanelSpec[]): JsonObject[] {
  let x = 0;
  let y = 0;
  let rowHeight = 0;
  return panels.map((p, i) => {
    if (x + p.w > 24) {
      x = 0;
      y += rowHeight;
      rowHeight = 0;
    }
    const gridPos = { h: p.h, w: p.w, x, y };
    x += p.w;
    rowHeight = Math.max(rowHeight, p.h);
    const base = defaultFieldDefaults(p.type, p.unit);
    const own = (p.fieldConfig?.defaults as JsonObject | undefined) ?? {};
    const defaults: JsonObject = { ...base, ...own };
    // Merge the custom (per-visualisation) block so a panel's own keys add to the defaults.
    if (base.custom !== undefined || own.custom !== undefined) defaults.custom = { ...((base.custom as JsonObject | undefined) ?? {}), ...((own.custom as JsonObject | undefined) ?? {}) };
    const panel: JsonObject = {
      id: i + 1,
      type: p.type,
      title: p.title,
      description: p.description,
      datasource: { ...DS },
      gridPos,
      targets: p.targets.map(target),
      fieldConfig: { defaults, overrides: (p.fieldConfig?.overrides as Json[] | undefined) ?? [] },
      options: { ...defaultOptions(p.type), ...(p.options ?? {}) },
    };
    if (p.transformations) panel.transformations = p.transformations;
    return panel;
  });
}

function dashboard(spec: DashboardSpec): JsonObject {
  return {
    uid: spec.uid,
    title: spec.title,
    description: spec.description,
    tags: ["ansai"],
    editable: true,
    graphTooltip: 1,
    fiscalYearStartMonth: 0,
    liveNow: false,
    refresh: "30s",
    schemaVersion: SCHEMA_VERSION,
    version: 1,
    time: { from: "now-6h", to: "now" },
    timepicker: {},
    timezone: "browser",
    weekStart: "",
    links: [{ type: "dashboards", title: "ANSAI", tags: ["ansai"], asDropdown: true, includeVars: true, keepTime: true, icon: "external link", targetBlank: false, tooltip: "", url: "" }],
    templating: { list: spec.variables.map(variable) },
    panels: layout(spec.panels),
  };
}

// Shared field configs.
const dashedByName = (regex: string): JsonObject => ({
  matcher: { id: "byRegexp", options: regex },
  properties: [{ id: "custom.lineStyle", value: { fill: "dash", dash: [10, 10] } }],
});
const hideTime: JsonObject = { id: "organize", options: { excludeByName: { Time: true }, renameByName: {} } };
const sortBy = (field: string, desc: boolean): JsonObject => ({ id: "sortBy", options: { fields: {}, sort: [{ field, desc }] } });
const stateMappings: Json = [
  { type: "value", options: { "0": { text: "resolved", color: "green", index: 0 }, "1": { text: "pending", color: "orange", index: 1 }, "2": { text: "firing", color: "red", index: 2 } } },
];
const etaBandOverrides: Json[] = [dashedByName(".*(low|high).*")];

const PREDICTION = '"ansai_prediction"';
const DISK_FORECAST = `"source_measurement" = 'disk' AND "source_field" = 'used_percent'`;
const RSS_FORECAST = `"source_measurement" = 'procstat' AND "source_field" = 'memory_rss'`;

function fleetOverview(): DashboardSpec {
  return {
    uid: "ansai-fleet",
    title: "ANSAI / Fleet overview",
    description: "Hosts reporting, the nearest predicted exhaustions, firing alerts and remediation actions across the fleet.",
    variables: [hostVariable()],
    panels: [
      {
        title: "Hosts reporting",
        type: "stat",
        description: "Hosts that sent a system point in the time range.",
        w: 6,
        h: 5,
        targets: [{ query: `SELECT last("uptime") FROM "system" WHERE $timeFilter AND ${HOST} GROUP BY "host"`, format: "table" }],
        options: { reduceOptions: { calcs: ["count"], fields: "/^last$/", values: false } },
      },
      {
        title: "Alerts firing",
        type: "stat",
        description: "Alerts firing at ANSAI's latest evaluation (ansai_internal.alerts_firing).",
        w: 6,
        h: 5,
        targets: [{ query: `SELECT last("alerts_firing") FROM "ansai_internal" WHERE $timeFilter` }],
        fieldConfig: { defaults: { thresholds: { mode: "absolute", steps: [{ color: "green", value: null }, { color: "red", value: 1 }] } } },
      },
      {
        title: "Actions by kind",
        type: "bargauge",
        description: "Remediation journal entries in the time range by kind (planned, suppressed, finished, verified, ...).",
        w: 12,
        h: 5,
        targets: [{ query: `SELECT sum("count") FROM "ansai_action" WHERE $timeFilter AND ${HOST} GROUP BY "kind"`, alias: "$tag_kind" }],
      },
      {
        title: "Nearest predicted exhaustions",
        type: "table",
        description: "Latest forecast of every series with an ETA, nearest first: when the threshold is reached and the prediction interval.",
        w: 24,
        h: 10,
        targets: [
          {
            query: `SELECT last("eta_s") AS "eta_s", last("eta_low_s") AS "eta_low_s", last("eta_high_s") AS "eta_high_s", last("value") AS "value", last("threshold") AS "threshold", last("confidence") AS "confidence" FROM ${PREDICTION} WHERE $timeFilter AND ${HOST} AND "eta_s" >= 0 GROUP BY "host", "rule", "source_measurement", "source_field", "path", "process_name", "common_name"`,
            format: "table",
          },
        ],
        fieldConfig: {
          defaults: {},
          overrides: [
            { matcher: { id: "byRegexp", options: "eta.*" }, properties: [{ id: "unit", value: "s" }] },
            { matcher: { id: "byName", options: "confidence" }, properties: [{ id: "unit", value: "percentunit" }] },
          ],
        },
        transformations: [hideTime, sortBy("eta_s", false)],
        options: { sortBy: [{ displayName: "eta_s", desc: false }] },
      },
      {
        title: "Alerts",
        type: "table",
        description: "Latest state of every alert in the time range (ansai_alert): firing first.",
        w: 12,
        h: 9,
        targets: [{ query: `SELECT last("state") AS "state", last("eta_s") AS "eta_s" FROM "ansai_alert" WHERE $timeFilter AND ${HOST} GROUP BY "host", "rule", "severity", "path", "process_name", "common_name"`, format: "table" }],
        fieldConfig: {
          defaults: {},
          overrides: [
            { matcher: { id: "byName", options: "state" }, properties: [{ id: "mappings", value: stateMappings }, { id: "custom.cellOptions", value: { type: "color-text" } }] },
            { matcher: { id: "byName", options: "eta_s" }, properties: [{ id: "unit", value: "s" }] },
          ],
        },
        transformations: [hideTime, sortBy("state", true)],
      },
      {
        title: "Actions over time",
        type: "timeseries",
        description: "Remediation journal entries per interval by kind.",
        w: 12,
        h: 9,
        targets: [{ query: `SELECT sum("count") FROM "ansai_action" WHERE $timeFilter AND ${HOST} GROUP BY time($__interval), "kind" fill(0)`, alias: "$tag_kind" }],
        fieldConfig: { defaults: { custom: { drawStyle: "bars", fillOpacity: 80, lineWidth: 1, showPoints: "never", stacking: { mode: "normal", group: "A" } } } },
      },
      {
        title: "Hosts",
        type: "table",
        description: "Latest CPU idle, memory and load per host.",
        w: 24,
        h: 8,
        targets: [
          { query: `SELECT last("usage_idle") AS "cpu_idle" FROM "cpu" WHERE $timeFilter AND "cpu" = 'cpu-total' AND ${HOST} GROUP BY "host"`, format: "table" },
          { query: `SELECT last("used_percent") AS "mem_used" FROM "mem" WHERE $timeFilter AND ${HOST} GROUP BY "host"`, format: "table" },
          { query: `SELECT last("load1") AS "load1", last("uptime") AS "uptime" FROM "system" WHERE $timeFilter AND ${HOST} GROUP BY "host"`, format: "table" },
        ],
        fieldConfig: {
          defaults: {},
          overrides: [
            { matcher: { id: "byRegexp", options: "cpu_idle|mem_used" }, properties: [{ id: "unit", value: "percent" }] },
            { matcher: { id: "byName", options: "uptime" }, properties: [{ id: "unit", value: "s" }] },
          ],
        },
        transformations: [{ id: "joinByField", options: { byField: "host", mode: "outer" } }, { id: "organize", options: { excludeByName: { Time: true, "Time 1": true, "Time 2": true, "Time 3": true }, renameByName: {} } }],
      },
    ],
  };
}

function hostDetail(): DashboardSpec {
  const PATH = tagIs("path", "path");
  return {
    uid: "ansai-host",
    title: "ANSAI / Host detail",
    description: "One host: CPU, memory, load, each disk and the biggest processes with ANSAI's forecast drawn beside the actual.",
    variables: [hostVariable(), { name: "path", label: "Mount", query: `SHOW TAG VALUES FROM "disk" WITH KEY = "path" WHERE ${HOST}` }],
    panels: [
      {
        title: "CPU",
        type: "timeseries",
        description: "cpu-total usage by mode.",
        w: 8,
        h: 8,
        unit: "percent",
        targets: [
          {
            query: `SELECT mean("usage_user") AS "user", mean("usage_system") AS "system", mean("usage_iowait") AS "iowait" FROM "cpu" WHERE $timeFilter AND "cpu" = 'cpu-total' AND ${HOST} GROUP BY time($__interval), "host" fill(null)`,
            alias: "$tag_host $col",
          },
        ],
      },
      {
        title: "Memory and swap",
        type: "timeseries",
        description: "mem and swap used_percent.",
        w: 8,
        h: 8,
        unit: "percent",
        targets: [
          { query: `SELECT mean("used_percent") FROM "mem" WHERE $timeFilter AND ${HOST} GROUP BY time($__interval), "host" fill(null)`, alias: "$tag_host mem" },
          { query: `SELECT mean("used_percent") FROM "swap" WHERE $timeFilter AND ${HOST} GROUP BY time($__interval), "host" fill(null)`, alias: "$tag_host swap" },
        ],
      },
      {
        title: "Load",
        type: "timeseries",
        description: "system load1, load5, load15.",
        w: 8,
        h: 8,
        targets: [{ query: `SELECT mean("load1") AS "load1", mean("load5") AS "load5", mean("load15") AS "load15" FROM "system" WHERE $timeFilter AND ${HOST} GROUP BY time($__interval), "host" fill(null)`, alias: "$tag_host $col" }],
      },
      {
        title: "Disk used, with forecast",
        type: "timeseries",
        description: "Each mount's used_percent (solid) and, dashed, ANSAI's forecast of the value at each rule's horizon with its band (ansai_prediction forecast_value, forecast_low, forecast_high).",
        w: 24,
        h: 10,
        unit: "percent",
        targets: [
          { query: `SELECT mean("used_percent") FROM "disk" WHERE $timeFilter AND ${HOST} AND ${PATH} GROUP BY time($__interval), "host", "path" fill(null)`, alias: "$tag_host $tag_path" },
          {
            query: `SELECT last("forecast_value") AS "forecast", last("forecast_low") AS "forecast low", last("forecast_high") AS "forecast high" FROM ${PREDICTION} WHERE $timeFilter AND ${HOST} AND ${PATH} AND ${DISK_FORECAST} GROUP BY time($__interval), "host", "path", "rule" fill(null)`,
            alias: "$tag_host $tag_path $col ($tag_rule)",
          },
        ],
        fieldConfig: {
          defaults: { max: 100, min: 0, thresholds: { mode: "absolute", steps: [{ color: "green", value: null }, { color: "red", value: 100 }] }, custom: { thresholdsStyle: { mode: "line" } } },
          overrides: [dashedByName(".*forecast.*")],
        },
      },
      {
        title: "Disk full in",
        type: "timeseries",
        description: "Time until each mount is full as forecast, with its prediction interval (eta_low_s … eta_high_s) dashed.",
        w: 12,
        h: 9,
        unit: "s",
        targets: [
          {
            query: `SELECT last("eta_s") AS "eta", last("eta_low_s") AS "eta_low", last("eta_high_s") AS "eta_high" FROM ${PREDICTION} WHERE $timeFilter AND ${HOST} AND ${PATH} AND ${DISK_FORECAST} GROUP BY time($__interval), "host", "path", "rule" fill(null)`,
            alias: "$tag_host $tag_path $col ($tag_rule)",
          },
        ],
        fieldConfig: { defaults: {}, overrides: etaBandOverrides },
      },
      {
        title: "Inodes used",
        type: "timeseries",
        description: "Each mount's inodes_used_percent.",
        w: 12,
        h: 9,
        unit: "percent",
        targets: [{ query: `SELECT mean("inodes_used_percent") FROM "disk" WHERE $timeFilter AND ${HOST} AND ${PATH} GROUP BY time($__interval), "host", "path" fill(null)`, alias: "$tag_host $tag_path" }],
      },
      {
        title: "Biggest processes: RSS, with forecast",
        type: "timeseries",
        description: "Resident memory of the watched processes (solid) and, dashed, ANSAI's forecast of each at its rule's horizon with its band.",
        w: 24,
        h: 10,
        unit: "bytes",
        targets: [
          { query: `SELECT max("memory_rss") FROM "procstat" WHERE $timeFilter AND ${HOST} GROUP BY time($__interval), "host", "process_name", "pid" fill(null)`, alias: "$tag_process_name ($tag_pid)" },
          {
            query: `SELECT last("forecast_value") AS "forecast", last("forecast_low") AS "forecast low", last("forecast_high") AS "forecast high" FROM ${PREDICTION} WHERE $timeFilter AND ${HOST} AND ${RSS_FORECAST} GROUP BY time($__interval), "host", "process_name", "pid", "rule" fill(null)`,
            alias: "$tag_process_name ($tag_pid) $col ($tag_rule)",
          },
        ],
        fieldConfig: { defaults: {}, overrides: [dashedByName(".*forecast.*")] },
      },
    ],
  };
}

function memoryLeaks(): DashboardSpec {
  const PROCESS = tagIs("process_name", "process");
  return {
    uid: "ansai-leaks",
    title: "ANSAI / Memory leaks",
    description: "Per process: resident memory, the leak rate ANSAI measures and the time left before the memory limit (OOM).",
    variables: [hostVariable(), { name: "process", label: "Process", query: `SHOW TAG VALUES FROM "procstat" WITH KEY = "process_name" WHERE ${HOST}` }],
    panels: [
      {
        title: "Growing processes",
        type: "table",
        description: "Processes whose memory grows, nearest OOM first: rate, time to the limit and its interval, confidence.",
        w: 24,
        h: 9,
        targets: [
          {
            query: `SELECT last("slope_per_s") AS "rate", last("eta_s") AS "eta_s", last("eta_low_s") AS "eta_low_s", last("eta_high_s") AS "eta_high_s", last("value") AS "rss", last("threshold") AS "limit", last("confidence") AS "confidence" FROM ${PREDICTION} WHERE $timeFilter AND ${HOST} AND ${PROCESS} AND ${RSS_FORECAST} AND "slope_per_s" > 0 GROUP BY "host", "process_name", "pid", "rule", "model"`,
            format: "table",
          },
        ],
        fieldConfig: {
          defaults: {},
          overrides: [
            { matcher: { id: "byName", options: "rate" }, properties: [{ id: "unit", value: "Bps" }] },
            { matcher: { id: "byRegexp", options: "eta.*" }, properties: [{ id: "unit", value: "s" }] },
            { matcher: { id: "byRegexp", options: "rss|limit" }, properties: [{ id: "unit", value: "bytes" }] },
            { matcher: { id: "byName", options: "confidence" }, properties: [{ id: "unit", value: "percentunit" }] },
          ],
        },
        transformations: [hideTime, sortBy("eta_s", false)],
      },
      {
        title: "Resident memory",
        type: "timeseries",
        description: "procstat memory_rss per process.",
        w: 12,
        h: 9,
        unit: "bytes",
        targets: [{ query: `SELECT mean("memory_rss") FROM "procstat" WHERE $timeFilter AND ${HOST} AND ${PROCESS} GROUP BY time($__interval), "host", "process_name", "pid" fill(null)`, alias: "$tag_host $tag_process_name ($tag_pid)" }],
      },
      {
        title: "Leak rate",
        type: "timeseries",
        description: "Growth of resident memory per second as ANSAI's model measures it (ansai_prediction.slope_per_s).",
        w: 12,
        h: 9,
        unit: "Bps",
        targets: [
          {
            query: `SELECT mean("slope_per_s") FROM ${PREDICTION} WHERE $timeFilter AND ${HOST} AND ${PROCESS} AND ${RSS_FORECAST} GROUP BY time($__interval), "host", "process_name", "pid", "rule" fill(null)`,
            alias: "$tag_process_name ($tag_pid) $tag_rule",
          },
        ],
      },
      {
        title: "Time to OOM",
        type: "timeseries",
        description: "Time until the process reaches its memory limit, with the prediction interval dashed.",
        w: 12,
        h: 9,
        unit: "s",
        targets: [
          {
            query: `SELECT last("eta_s") AS "eta", last("eta_low_s") AS "eta_low", last("eta_high_s") AS "eta_high" FROM ${PREDICTION} WHERE $timeFilter AND ${HOST} AND ${PROCESS} AND ${RSS_FORECAST} GROUP BY time($__interval), "host", "process_name", "pid", "rule" fill(null)`,
            alias: "$tag_process_name ($tag_pid) $col",
          },
        ],
        fieldConfig: { defaults: {}, overrides: etaBandOverrides },
      },
      {
        title: "Memory limit",
        type: "timeseries",
        description: "The limit each process is measured against: its cgroup's memory limit, else the host's memory.",
        w: 12,
        h: 9,
        unit: "bytes",
        targets: [{ query: `SELECT last("memory_limit") FROM "procstat" WHERE $timeFilter AND ${HOST} AND ${PROCESS} GROUP BY time($__interval), "host", "process_name", "pid" fill(null)`, alias: "$tag_process_name ($tag_pid) limit" }],
      },
    ],
  };
}

function certificates(): DashboardSpec {
  return {
    uid: "ansai-certs",
    title: "ANSAI / Certificates",
    description: "Days left on every certificate ANSAI (or Telegraf's x509_cert) watches.",
    variables: [hostVariable()],
    panels: [
      {
        title: "Certificates",
        type: "table",
        description: "Latest expiry of each certificate, soonest first; red under 3 days, orange under 14.",
        w: 24,
        h: 10,
        targets: [{ query: `SELECT last("expiry") AS "expiry" FROM "x509_cert" WHERE $timeFilter AND ${HOST} GROUP BY "host", "common_name", "source", "verification"`, format: "table" }],
        fieldConfig: {
          defaults: {},
          overrides: [
            {
              matcher: { id: "byName", options: "days_left" },
              properties: [
                { id: "decimals", value: 1 },
                { id: "thresholds", value: { mode: "absolute", steps: [{ color: "red", value: null }, { color: "orange", value: 3 }, { color: "green", value: 14 }] } },
                { id: "custom.cellOptions", value: { type: "color-background" } },
              ],
            },
          ],
        },
        transformations: [
          { id: "calculateField", options: { mode: "binary", alias: "days_left", binary: { left: "expiry", operator: "/", right: "86400" }, replaceFields: false } },
          { id: "organize", options: { excludeByName: { Time: true, expiry: true }, renameByName: {} } },
          sortBy("days_left", false),
        ],
      },
      {
        title: "Time left",
        type: "timeseries",
        description: "x509_cert expiry per certificate; the red line is 3 days, orange 14.",
        w: 16,
        h: 9,
        unit: "s",
        targets: [{ query: `SELECT min("expiry") FROM "x509_cert" WHERE $timeFilter AND ${HOST} GROUP BY time($__interval), "common_name", "source" fill(null)`, alias: "$tag_common_name ($tag_source)" }],
        fieldConfig: { defaults: { thresholds: { mode: "absolute", steps: [{ color: "red", value: null }, { color: "orange", value: 259200 }, { color: "green", value: 1209600 }] }, custom: { thresholdsStyle: { mode: "line" } } } },
      },
      {
        title: "Expiring within 14 days",
        type: "stat",
        description: "Certificates whose expiry fell under 14 days in the time range.",
        w: 8,
        h: 9,
        targets: [{ query: `SELECT last("expiry") FROM "x509_cert" WHERE $timeFilter AND ${HOST} AND "expiry" < 1209600 GROUP BY "host", "common_name", "source"`, format: "table" }],
        options: { reduceOptions: { calcs: ["count"], fields: "/^last$/", values: false } },
        fieldConfig: { defaults: { thresholds: { mode: "absolute", steps: [{ color: "green", value: null }, { color: "orange", value: 1 }] } } },
      },
    ],
  };
}

function remediation(): DashboardSpec {
  const ACTION = tagIs("action", "action");
  return {
    uid: "ansai-remediation",
    title: "ANSAI / Remediation journal",
    description: "What the remediator planned, suppressed, ran and verified (ansai_action), over time and in detail.",
    variables: [hostVariable(), { name: "action", label: "Action", query: 'SHOW TAG VALUES FROM "ansai_action" WITH KEY = "action"' }],
    panels: [
      {
        title: "Journal entries by kind",
        type: "timeseries",
        description: "Entries per interval by kind: planned, suppressed, awaiting_approval, started, finished, verified, not_verified, escalated, ...",
        w: 16,
        h: 9,
        targets: [{ query: `SELECT sum("count") FROM "ansai_action" WHERE $timeFilter AND ${HOST} AND ${ACTION} GROUP BY time($__interval), "kind" fill(0)`, alias: "$tag_kind" }],
        fieldConfig: { defaults: { custom: { drawStyle: "bars", fillOpacity: 80, lineWidth: 1, showPoints: "never", stacking: { mode: "normal", group: "A" } } } },
      },
      {
        title: "By action and kind",
        type: "bargauge",
        description: "Entries in the time range per action and kind.",
        w: 8,
        h: 9,
        targets: [{ query: `SELECT sum("count") FROM "ansai_action" WHERE $timeFilter AND ${HOST} AND ${ACTION} GROUP BY "action", "kind"`, alias: "$tag_action $tag_kind" }],
      },
      {
        title: "Success rate",
        type: "bargauge",
        description: "Share of finished runs that succeeded (ansai_action.ok), per action.",
        w: 8,
        h: 8,
        unit: "percentunit",
        targets: [{ query: `SELECT mean("ok") FROM "ansai_action" WHERE $timeFilter AND ${HOST} AND ${ACTION} AND "kind" = 'finished' GROUP BY "action"`, alias: "$tag_action" }],
        fieldConfig: { defaults: { min: 0, max: 1, thresholds: { mode: "absolute", steps: [{ color: "red", value: null }, { color: "orange", value: 0.5 }, { color: "green", value: 0.9 }] } } },
      },
      {
        title: "Run duration",
        type: "timeseries",
        description: "Mean duration of finished runs per action.",
        w: 8,
        h: 8,
        unit: "ms",
        targets: [{ query: `SELECT mean("duration_ms") FROM "ansai_action" WHERE $timeFilter AND ${HOST} AND ${ACTION} AND "kind" = 'finished' GROUP BY time($__interval), "action" fill(null)`, alias: "$tag_action" }],
        fieldConfig: { defaults: { custom: { drawStyle: "points", pointSize: 6, showPoints: "always" } } },
      },
      {
        title: "Suppressed, by reason",
        type: "bargauge",
        description: "Why the policy held actions back: dry-run, cooldown, rate limit, concurrency, ...",
        w: 8,
        h: 8,
        targets: [{ query: `SELECT sum("count") FROM "ansai_action" WHERE $timeFilter AND ${HOST} AND ${ACTION} AND "kind" = 'suppressed' GROUP BY "reason"`, alias: "$tag_reason" }],
      },
      {
        title: "Journal",
        type: "table",
        description: "The latest journal entries, newest first.",
        w: 24,
        h: 12,
        targets: [
          {
            query: `SELECT "count", "ok", "duration_ms" FROM "ansai_action" WHERE $timeFilter AND ${HOST} AND ${ACTION} GROUP BY "host", "action", "rule", "kind", "reason", "dry_run" ORDER BY time DESC LIMIT 100`,
            format: "table",
          },
        ],
        fieldConfig: { defaults: {}, overrides: [{ matcher: { id: "byName", options: "duration_ms" }, properties: [{ id: "unit", value: "ms" }] }] },
        transformations: [{ id: "organize", options: { excludeByName: { count: true }, renameByName: {} } }, sortBy("Time", true)],
      },
    ],
  };
}

function ansaiHealth(): DashboardSpec {
  const SERVER = tagIs("host", "server");
  return {
    uid: "ansai-health",
    title: "ANSAI / ANSAI health",
    description: "ANSAI's own health from ansai_internal: ingest rate, store and buffer depth, rule evaluation time.",
    variables: [{ name: "server", label: "ANSAI server", query: 'SHOW TAG VALUES FROM "ansai_internal" WITH KEY = "host"' }],
    panels: [
      {
        title: "Ingest rate",
        type: "timeseries",
        description: "Points accepted per second.",
        w: 12,
        h: 8,
        unit: "short",
        targets: [{ query: `SELECT mean("points_per_s") FROM "ansai_internal" WHERE $timeFilter AND ${SERVER} GROUP BY time($__interval), "host" fill(null)`, alias: "$tag_host points/s" }],
      },
      {
        title: "Rule evaluation time",
        type: "timeseries",
        description: "Time to evaluate all rules once: mean and worst per interval.",
        w: 12,
        h: 8,
        unit: "ms",
        targets: [{ query: `SELECT mean("rule_eval_ms") AS "mean", max("rule_eval_ms") AS "max" FROM "ansai_internal" WHERE $timeFilter AND ${SERVER} GROUP BY time($__interval), "host" fill(null)`, alias: "$tag_host $col" }],
      },
      {
        title: "Points waiting for the store",
        type: "timeseries",
        description: "Points accepted but not yet written to the store; grows while the store is slow or down.",
        w: 12,
        h: 8,
        unit: "short",
        targets: [{ query: `SELECT max("store_pending_points") FROM "ansai_internal" WHERE $timeFilter AND ${SERVER} GROUP BY time($__interval), "host" fill(null)`, alias: "$tag_host pending" }],
      },
      {
        title: "Durable buffer",
        type: "timeseries",
        description: "Bytes held in the on-disk buffer while the store (InfluxDB) is unreachable.",
        w: 12,
        h: 8,
        unit: "bytes",
        targets: [{ query: `SELECT max("buffer_bytes") FROM "ansai_internal" WHERE $timeFilter AND ${SERVER} GROUP BY time($__interval), "host" fill(null)`, alias: "$tag_host buffer" }],
      },
      {
        title: "Series watched",
        type: "stat",
        description: "Series the analyzer holds.",
        w: 6,
        h: 5,
        targets: [{ query: `SELECT last("series") FROM "ansai_internal" WHERE $timeFilter AND ${SERVER} GROUP BY "host"`, alias: "$tag_host" }],
      },
      {
        title: "Alerts firing",
        type: "stat",
        description: "Alerts firing at the latest evaluation.",
        w: 6,
        h: 5,
        targets: [{ query: `SELECT last("alerts_firing") FROM "ansai_internal" WHERE $timeFilter AND ${SERVER} GROUP BY "host"`, alias: "$tag_host" }],
        fieldConfig: { defaults: { thresholds: { mode: "absolute", steps: [{ color: "green", value: null }, { color: "red", value: 1 }] } } },
      },
      {
        title: "Points ingested",
        type: "stat",
        description: "Points ingested since ANSAI started (a counter).",
        w: 6,
        h: 5,
        unit: "short",
        targets: [{ query: `SELECT last("points_ingested_total") FROM "ansai_internal" WHERE $timeFilter AND ${SERVER} GROUP BY "host"`, alias: "$tag_host" }],
      },
      {
        title: "Reports",
        type: "stat",
        description: "ansai_internal points received in the time range: one every 10 s while ANSAI runs.",
        w: 6,
        h: 5,
        targets: [{ query: `SELECT count("points_per_s") FROM "ansai_internal" WHERE $timeFilter AND ${SERVER} GROUP BY "host"`, alias: "$tag_host" }],
      },
    ],
  };
}

/** Every dashboard, keyed by file name (without .json). */
export function buildDashboards(): Record<string, JsonObject> {
  return {
    "fleet-overview": dashboard(fleetOverview()),
    "host-detail": dashboard(hostDetail()),
    "memory-leaks": dashboard(memoryLeaks()),
    certificates: dashboard(certificates()),
    remediation: dashboard(remediation()),
    "ansai-health": dashboard(ansaiHealth()),
  };
}

/** A dashboard as the text of its file. */
export function dashboardText(d: JsonObject): string {
  return `${JSON.stringify(d, null, 2)}\n`;
}

function main(): void {
  for (const [name, d] of Object.entries(buildDashboards())) {
    const file = path.join(DASHBOARDS_DIR, `${name}.json`);
    writeFileSync(file, dashboardText(d));
    process.stdout.write(`wrote ${path.relative(ROOT, file)}\n`);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
