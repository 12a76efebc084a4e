import { z } from "zod";
import type { AgentState } from "../collector/ingest/agents.js";
import type { RuleHealth } from "../analyzer/rules.js";
import type { Alert, Prediction } from "../core/contracts.js";
import type { SeriesInfo } from "../core/point.js";

// Response shapes of the core contracts, for the serializer (which checks what the API sends
// and drops keys a schema does not name) and for the OpenAPI document.

const tags = z.record(z.string(), z.string()).describe("Tag key → value, e.g. {host: web-01, path: /var}.");

export const predictionSchema = z
  .object({
    rule: z.string(),
    model: z.string().describe("Forecasting model, e.g. linear_trend."),
    series: z.string().describe("Series key, e.g. `disk,host=web-01,path=/var used_percent`."),
    measurement: z.string(),
    tags,
    field: z.string(),
    atMs: z.number().describe("When the prediction was made (epoch ms)."),
    value: z.number().describe("Latest observed value."),
    threshold: z.number(),
    slopePerS: z.number().describe("Trend in units of the series per second."),
    etaMs: z.number().nullable().describe("When the threshold is expected to be reached (epoch ms); null: the trend never reaches it."),
    etaLowMs: z.number().nullable().describe("Earliest plausible time (epoch ms) from the prediction interval."),
    etaHighMs: z.number().nullable().describe("Latest plausible time (epoch ms); null when the interval does not bound it."),
    forecastValue: z.number().describe("Forecast value at the rule's horizon."),
    forecastLow: z.number().optional().describe("Low edge of the forecast's band at the horizon."),
    forecastHigh: z.number().optional().describe("High edge of the forecast's band at the horizon."),
    confidence: z.number().describe("0..1: how sure the model is that the series trends toward the threshold."),
    samples: z.number().int(),
    score: z.number().optional().describe("Anomaly score of the latest sample (σ above the learned baseline), for anomaly rules."),
  })
  .meta({ id: "Prediction", description: "A forecast for one series against one threshold." });

export const alertSchema = z
  .object({
    id: z.string().describe("Rule name plus series key."),
    rule: z.string(),
    severity: z.enum(["info", "warning", "critical"]),
    state: z.enum(["pending", "firing", "resolved"]),
    series: z.string(),
    tags,
    activeSinceMs: z.number().describe("When the condition first held in this episode (epoch ms)."),
    firedAtMs: z.number().nullable(),
    resolvedAtMs: z.number().nullable(),
    summary: z.string().describe('One line for people, e.g. "/var on web-01 full in 3 h 10 m".'),
    prediction: predictionSchema,
    silenced: z.boolean().optional().describe("True when a silence (POST /api/v1/silences) covers the alert: it is not notified."),
  })
  .meta({ id: "Alert", description: "An alert and the prediction behind it." });

export const ruleHealthSchema = z
  .object({
    rule: z.string(),
    lastEvaluationMs: z.number().nullable().describe("Time of the latest evaluation (epoch ms)."),
    lastDurationMs: z.number().nullable().describe("Wall time the latest evaluation took (ms)."),
    lastError: z.string().nullable(),
    series: z.number().int().describe("Series the rule watches."),
  })
  .meta({ id: "RuleHealth", description: "A rule's health." });

export const seriesInfoSchema = z
  .object({
    key: z.string().describe("Series key, e.g. `disk,host=web-01,path=/var used_percent`."),
    measurement: z.string(),
    tags,
    field: z.string(),
  })
  .meta({ id: "SeriesInfo", description: "A series the store holds." });

export const agentStateSchema = z
  .object({
    name: z.string(),
    host: z.string().nullable().describe("The host tag the agent reports, once it has pushed."),
    labels: tags,
    version: z.string().nullable(),
    lastSeenMs: z.number().nullable().describe("Time of the last push (epoch ms)."),
    lastSeq: z.number().int().describe("Highest batch sequence number applied."),
    bufferPoints: z.number().describe("Points waiting in the agent's buffer at its last push."),
    droppedPoints: z.number().describe("Points the agent's buffer gave up since it started."),
    silent: z.boolean().describe("Whether the agent has not pushed for server.silent_after."),
  })
  .meta({ id: "AgentState", description: "An agent known to this server." });

/** The InfluxDB error shape the ingest routes keep, so InfluxDB clients show the message. */
export const influxErrorSchema = z
  .object({ code: z.string().describe('InfluxDB error code, e.g. "invalid", "unauthorized".'), message: z.string() })
  .meta({ id: "InfluxError", description: "An error in InfluxDB's shape." });

/** true when A and B have the same keys; a compile error below names the schema that drifted. */
type SameKeys<A, B> = [keyof A] extends [keyof B] ? ([keyof B] extends [keyof A] ? true : false) : false;

/**
 * Compile-time guard: each schema names exactly its contract's keys, so a field added to a
 * contract cannot vanish from the API's responses unnoticed.
 */
export const schemasMatchContracts: [
  SameKeys<Prediction, z.output<typeof predictionSchema>>,
  SameKeys<Alert, z.output<typeof alertSchema>>,
  SameKeys<RuleHealth, z.output<typeof ruleHealthSchema>>,
  SameKeys<SeriesInfo, z.output<typeof seriesInfoSchema>>,
  SameKeys<AgentState, z.output<typeof agentStateSchema>>,
] = [true, true, true, true, true];
