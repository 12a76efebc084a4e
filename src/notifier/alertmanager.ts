import type { Alert } from "../core/contracts.js";
import { post } from "./http.js";
import { isoOrNull, type NotificationBatch, type Notifier } from "./notifier.js";

/** Prometheus posts every minute and sets endsAt 4 resend intervals ahead; so do we. */
const ENDS_AT_RESENDS = 4;

/** One element of Alertmanager's `postableAlerts` (api/v2/openapi.yaml). */
export interface PostableAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  generatorURL?: string;
}

export interface AlertmanagerOptions {
  name: string;
  /** Base URL, e.g. http://alertmanager:9093. */
  url: string;
  timeoutMs: number;
  /** How often firing alerts are posted again (ms); endsAt is 4 of these ahead. */
  resendIntervalMs: number;
  /** ANSAI's own base URL, for each alert's generatorURL; omitted when absent. */
  externalUrl?: string;
  userAgent?: string;
}

/** Alertmanager's classic label names: [a-zA-Z_][a-zA-Z0-9_]*. */
export function labelName(tag: string): string {
  const clean = tag.replace(/[^A-Za-z0-9_]/g, "_");
  return /^[0-9]/.test(clean) || clean === "" ? `_${clean}` : clean;
}

/** An ANSAI alert as Alertmanager wants it: identity in labels, the forecast in annotations. */
export function toPostableAlert(a: Alert, batch: NotificationBatch, opts: Pick<AlertmanagerOptions, "resendIntervalMs" | "externalUrl">): PostableAlert {
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(a.tags)) if (v !== "") labels[labelName(k)] = v;
  // Routing labels win over series tags of the same name.
  Object.assign(labels, { alertname: a.rule, severity: a.severity, host: batch.host });
  const p = a.prediction;
  const annotations: Record<string, string> = { summary: a.summary, series: a.series, value: String(p.value), threshold: String(p.threshold) };
  for (const [key, ms] of [["eta", p.etaMs], ["eta_low", p.etaLowMs], ["eta_high", p.etaHighMs]] as const) {
    const iso = isoOrNull(ms);
    if (iso !== null) annotations[key] = iso;
  }
  const endsAtMs = a.state === "resolved" ? (a.resolvedAtMs ?? batch.atMs) : batch.atMs + ENDS_AT_RESENDS * opts.resendIntervalMs;
  const out: PostableAlert = {
    labels,
    annotations,
    startsAt: new Date(a.firedAtMs ?? a.activeSinceMs).toISOString(),
    endsAt: new Date(endsAtMs).toISOString(),
  };
  if (opts.externalUrl !== undefined) out.generatorURL = `${opts.externalUrl.replace(/\/+$/, "")}/api/v1/alerts`;
  return out;
}

/** Posts alerts to Alertmanager's API v2; it groups, routes, silences and repeats them for people. */
export function createAlertmanagerNotifier(opts: AlertmanagerOptions): Notifier {
  const endpoint = `${opts.url.replace(/\/+$/, "")}/api/v2/alerts`;
  return {
    name: opts.name,
    repeatIntervalMs: opts.resendIntervalMs,
    async send(batch, signal) {
      const body = JSON.stringify(batch.alerts.map((a) => toPostableAlert(a, batch, opts)));
      await post({ url: endpoint, body, headers: { "content-type": "application/json", "user-agent": opts.userAgent ?? "ansai" }, timeoutMs: opts.timeoutMs, signal });
    },
  };
}
