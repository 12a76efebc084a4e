import { z } from "zod";
import { apiConfigSchema } from "../api/config.js";
import { diskConfigSchema } from "../collector/disk.js";
import { execConfigSchema } from "../collector/exec.js";
import { hostConfigSchema } from "../collector/host.js";
import { httpResponseConfigSchema } from "../collector/http-response.js";
import { netResponseConfigSchema } from "../collector/net-response.js";
import { postgresqlConfigSchema } from "../collector/postgresql.js";
import { procstatConfigSchema } from "../collector/procstat.js";
import { prometheusConfigSchema } from "../collector/prometheus.js";
import { serviceConfigSchema } from "../collector/service.js";
import { x509CertConfigSchema } from "../collector/x509-cert.js";
import { MODEL_NAMES } from "../analyzer/models/index.js";
import { notifierConfigSchema } from "../notifier/config.js";
import { remediationConfigSchema } from "../remediator/config.js";
import { reportsConfigSchema } from "../report/config.js";
import { influxdbStoreConfigSchema } from "../store/influxdb-config.js";
import { duration, tagMatchers } from "./zod-types.js";

/** The config version this ANSAI reads. Bump only with a migration. */
export const CONFIG_VERSION = 1;

export { DEFAULT_API_PORT } from "../api/config.js";


const severity = z.enum(["info", "warning", "critical"]);

const rule = z.strictObject({
  name: z.string().regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/, "expected a name of letters, digits and _").describe("Unique rule name, e.g. data_90pct; alerts and actions refer to it."),
  measurement: z.string().min(1).describe("Measurement of the series, e.g. disk."),
  field: z.string().min(1).describe("Field of the series, e.g. used_percent."),
  model: z
    .enum(MODEL_NAMES)
    .default("linear_trend")
    .describe("Forecasting model: linear_trend, robust_trend (ignores bursts that go away), sawtooth_trend (log rotation, compaction: window ≥ 3 cycles), leak_detector (memory), seasonal, cert_expiry, anomaly (no natural threshold: threshold is the score in σ above the learned baseline)."),
  tags: tagMatchers.describe('Tag matchers: an exact value, or "/regex/".'),
  threshold: z
    .union([
      z.number(),
      z.strictObject({
        field: z.string().min(1).describe("Field of the same series whose latest value is the threshold, e.g. memory_limit."),
        fallback: z.number().optional().describe("Threshold while that field has not been seen."),
      }),
      z.strictObject({
        measurement: z.string().min(1).describe("Measurement of the threshold series, e.g. mem."),
        field: z.string().min(1).describe("Field of the threshold series, e.g. total."),
        on: z.array(z.string().min(1)).min(1).default(["host"]).describe("Tags that pair a watched series with its threshold series (like PromQL's on(host))."),
        fallback: z.number().optional().describe("Threshold while the threshold series has not been seen."),
      }),
    ])
    .describe(
      "The value the series must not reach: a number; {field: F} for the latest value of field F of the same series (e.g. memory_limit); or {measurement: M, field: F, on: [host]} for the latest value of another series with the same host.",
    ),
  horizon: duration.describe("Alert when the threshold is predicted within this time."),
  for: duration.default("5m").describe("How long the prediction must hold before the alert fires."),
  keep_firing_for: duration.default("0s").describe("How long a firing alert stays firing after its prediction stops holding (avoids flapping)."),
  min_confidence: z.number().min(0).max(1).default(0).describe("Ignore predictions less sure than this (0..1) that the series really trends toward the threshold."),
  window: duration.default("6h").describe("How much history the trend model weighs."),
  min_history: duration
    .default("0s")
    .describe("A series alerts only once it has this much history; forecasts are shown before. E.g. 24h for a 24 h warning, so a new host does not alert on part of a daily cycle."),
  min_samples: z.number().int().min(3).default(5).describe("No prediction before this many samples."),
  severity: severity.default("warning").describe("info, warning or critical; notifiers pass it on."),
  summary: z
    .string()
    .default("{{series}} reaches {{threshold}} in {{eta}} ({{eta_low}} – {{eta_high}})")
    .describe("One line for people; placeholders {{tags.X}}, {{value}}, {{threshold}}, {{eta}}, {{eta_low}}, {{eta_high}}, {{rate}}, {{score}}, {{rule}}, {{series}}."),
  labels: z.record(z.string(), z.string()).default({}).describe("Extra labels on the alert, e.g. {team: storage}; sent to Alertmanager."),
});


const MIB = 1024 * 1024;

const agentSection = z
  .strictObject({
    server: z.url().optional().describe("URL of `ansai server`, e.g. http://central:9847; `ansai agent --server` overrides it."),
    token: z.string().min(1).optional().describe("This agent's token, as listed in the server's server.agents; `--token` overrides it."),
    token_file: z.string().min(1).optional().describe("File holding the token (keeps it out of the config)."),
    labels: z.record(z.string(), z.string()).default({}).describe("Labels shown for this agent on the server, e.g. {role: web, group: eu-1}."),
    buffer: z
      .strictObject({
        max_bytes: z.number().int().min(MIB).default(256 * MIB).describe("Bound of the on-disk buffer that holds points while the server is unreachable."),
        overflow: z.enum(["drop_oldest", "drop_newest"]).default("drop_oldest").describe("What to give up when the buffer is full; drops are counted and reported."),
      })
      .prefault({})
      .describe("The agent's durable on-disk buffer for server outages."),
  })
  .prefault({});

const serverSection = z
  .strictObject({
    agents: z
      .array(
        z.strictObject({
          name: z.string().min(1).describe("The agent's name on the server."),
          token: z.string().min(16, "expected a token of at least 16 characters (e.g. `openssl rand -hex 24`)").describe("The agent's secret; the agent sends it with every push."),
          labels: z.record(z.string(), z.string()).default({}).describe("Labels of the agent, e.g. {group: web}; remediation.fleet groups hosts by them."),
        }),
      )
      .default([])
      .describe("Agents allowed to push; any other token is refused."),
    silent_after: duration.default("2m").describe("Alert when an agent has not pushed for this long."),
    write_tokens: z
      .array(
        z.strictObject({
          name: z.string().min(1).describe("Who uses the token, for logs."),
          token: z.string().min(16, "expected a token of at least 16 characters (e.g. `openssl rand -hex 24`)").describe("The secret, e.g. from `openssl rand -hex 24`."),
        }),
      )
      .default([])
      .describe("Tokens accepted by the InfluxDB-compatible /api/v2/write and /write (Telegraf, InfluxDB clients); empty: no token needed."),
    max_series_per_host: z.number().int().positive().default(10_000).describe("Distinct series accepted per host tag through line-protocol ingest."),
    max_push_bytes: z.number().int().min(MIB).default(32 * MIB).describe("Largest accepted push, compressed or not."),
  })
  .prefault({});

export const configSchema = z.strictObject({
  version: z
    .literal(CONFIG_VERSION, { message: `expected version: ${CONFIG_VERSION}` })
    .default(CONFIG_VERSION)
    .describe("Config format version."),
  host: z.string().min(1).optional().describe("Value of the host tag; default: this machine's hostname."),
  interval: duration.default("10s").describe("How often collectors run."),
  data_dir: z.string().min(1).default("data").describe("Where the embedded store and the journal live; relative to the working directory."),
  log: z
    .strictObject({ level: z.enum(["trace", "debug", "info", "warn", "error", "fatal"]).default("info").describe("Least severe log level written (JSON lines on stderr).") })
    .prefault({})
    .describe("ANSAI's own logging."),
  api: apiConfigSchema.describe("The HTTP API: address, tokens with scopes, TLS, rate limit, CORS, body size."),
  collectors: z
    .strictObject({
      host: hostConfigSchema.prefault({}).describe("Host metrics: cpu, mem, swap, system load, net, diskio, processes, file descriptors."),
      disk: diskConfigSchema.prefault({}).describe("Mounts: space, inodes, read-only remounts, and sizes of configured directories."),
      procstat: procstatConfigSchema.prefault({}).describe("Processes: memory (RSS, cgroup limit and usage, OOM kills), cpu, open files, unit or container."),
      x509_cert: x509CertConfigSchema.prefault({}).describe("TLS certificates from files and endpoints: expiry, issuer, chain validity; optional discovery."),
      http_response: httpResponseConfigSchema.prefault({}).describe("HTTP checks: status, latency, body match, TLS handshake time."),
      net_response: netResponseConfigSchema.prefault({}).describe("TCP/UDP checks: connect and answer time."),
      prometheus: prometheusConfigSchema.prefault({}).describe("Scrape Prometheus exporters, with simple relabelling."),
      service: serviceConfigSchema.prefault({}).describe("Service health: processes, systemd units, containers; restarts."),
      postgresql: postgresqlConfigSchema.prefault({}).describe("PostgreSQL health: connections, database size, replication lag, long transactions."),
      exec: execConfigSchema.prefault({}).describe("Programs that print line protocol, run with an argv (no shell)."),
    })
    .prefault({})
    .describe("What is collected on this host; one section per collector (src/collector/)."),
  storage: z
    .strictObject({
      retention: duration.default("14d").describe("How long raw points are kept."),
      rollup_step: duration.default("5m").describe("Bucket width of the downsampled rollup."),
      rollup_retention: duration.default("365d").describe("How long the rollup (min/mean/max) is kept."),
      flush_interval: duration.default("1s").describe("A crash loses at most this much unflushed data."),
    })
    .prefault({})
    .describe("The embedded store: retention and downsampling."),
  analyzer: z
    .strictObject({
      evaluation_interval: duration.default("10s").describe("How often rules are evaluated."),
      default_rules: z.boolean().default(true).describe("Load the built-in disk and memory rules."),
      rules: z.array(rule).default([]).describe("Predictive rules added to the defaults; one with a default's name replaces it."),
    })
    .prefault({})
    .describe("Forecasting models and the predictive rules that turn them into alerts."),
  remediation: remediationConfigSchema,
  notifiers: notifierConfigSchema.describe("Where firing and resolved alerts are sent: webhooks, Alertmanager, e-mail."),
  store: z
    .strictObject({
      type: z.enum(["embedded", "influxdb"]).default("embedded").describe("Where points live: the embedded file under data_dir, or InfluxDB (store.influxdb)."),
      influxdb: influxdbStoreConfigSchema.optional().describe("InfluxDB connection and write buffer; used when type is influxdb."),
    })
    .refine((s) => s.type !== "influxdb" || s.influxdb !== undefined, {
      path: ["influxdb"],
      message: "store.type influxdb needs a store.influxdb section (url, and bucket for api v2 or database for api v1)",
    })
    .prefault({}),
  reports: reportsConfigSchema.describe("Capacity reports: when they are made, what they cover, where they go."),
  agent: agentSection.describe("Used by `ansai agent`: where to push and how to buffer."),
  server: serverSection.describe("Used by `ansai start`/`ansai server`: which agents may push."),
});

/** The validated, effective config; durations stay strings (see `durationMs`). */
export type Config = z.output<typeof configSchema>;
export type RuleConfig = z.output<typeof rule>;

/** JSON Schema of the config file, for editors (`ansai config schema`). */
export function configJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(configSchema, { io: "input", unrepresentable: "any" }) as Record<string, unknown>;
}
