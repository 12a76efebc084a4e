import type { Alert, Prediction } from "../core/contracts.js";
import { formatDuration } from "../core/duration.js";
import { formatValue } from "../core/format.js";
import { AnsaiError, ErrorCodes } from "../core/errors.js";
import { loadConfig } from "../config/load.js";
import { apiUrl, authHeaders, TOKEN_HINT } from "./api-client.js";

interface StatusBody {
  version: string;
  host: string;
  watching: Record<string, unknown>;
  predictions: Prediction[];
  alerts: Alert[];
}

/** `ansai status`: nearest predicted exhaustions and alerts, read from the running API. */
export async function runStatus(opts: { config?: string; url?: string; token?: string; limit: number }): Promise<void> {
  const url = opts.url ?? apiUrl(loadConfig({ file: opts.config, cwd: process.cwd() }).config);
  const unreachable = (err: unknown): AnsaiError =>
    new AnsaiError(
      ErrorCodes.API_UNREACHABLE,
      `cannot reach ANSAI at ${url}: ${(err as Error).message}`,
      "Start it with `ansai start` (or `npm start`), or pass --url if it listens elsewhere.",
      { cause: err },
    );
  const res = await fetch(`${url}/api/v1/status`, { headers: authHeaders(opts.token), signal: AbortSignal.timeout(5000) }).catch((err: unknown) => {
    throw unreachable(err);
  });
  if (res.status === 401 || res.status === 403) throw new AnsaiError(ErrorCodes.API_UNAUTHORIZED, `ANSAI at ${url} answered ${res.status}`, TOKEN_HINT);
  let body: StatusBody;
  try {
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    body = (await res.json()) as StatusBody;
  } catch (err) {
    throw unreachable(err);
  }
  const nowMs = Date.now();
  console.log(`ANSAI ${body.version} on ${body.host}`);
  console.log("");
  console.log("Nearest predicted exhaustions");
  const rows = nearestPerSeries(body.predictions)
    .slice(0, opts.limit)
    .map(({ p, rules }) => [
      rules.join(", "),
      target(p),
      `${formatValue(p.value, p.field)} → ${formatValue(p.threshold, p.field)}`,
      etaText(p, nowMs),
      p.etaMs === null || p.etaMs - nowMs > FAR_MS ? "" : formatRange(p, nowMs),
      `${Math.round(p.confidence * 100)}%`,
    ]);
  if (rows.length === 0) console.log("  none yet: models need a few samples (about a minute after start)");
  else printTable(["RULE", "TARGET", "NOW → LIMIT", "ETA", "RANGE", "CONFIDENCE"], rows);
  console.log("");
  console.log("Alerts");
  const active = body.alerts.map((a) => [a.state, a.severity, a.rule, a.summary]);
  if (active.length === 0) console.log("  none");
  else printTable(["STATE", "SEVERITY", "RULE", "SUMMARY"], active);
}

/** ETAs further than this say nothing a person can act on (a near-flat trend's crossing centuries away). */
const FAR_MS = 365 * 86_400_000;

/** The ETA column: a duration, "beyond a year", or why there is none. */
export function etaText(p: Pick<Prediction, "etaMs" | "confidence">, nowMs: number): string {
  if (p.etaMs === null) return p.confidence === 0 ? "learning: needs more history" : "not trending there";
  if (p.etaMs - nowMs > FAR_MS) return "beyond a year";
  return `in ${formatDuration(p.etaMs - nowMs)}`;
}

function target(p: Prediction): string {
  const t = p.tags;
  if (t.path) return `${t.path}${t.host ? ` on ${t.host}` : ""}`;
  if (t.process_name) return `${t.process_name}${t.pid ? ` (pid ${t.pid})` : ""}`;
  if (t.common_name) return `${t.common_name}${t.source ? ` (${t.source})` : ""}`;
  return p.series;
}

/** One row per series: rules on the same series (24 h and 4 h disk rules) share a forecast. */
function nearestPerSeries(predictions: readonly Prediction[]): Array<{ p: Prediction; rules: string[] }> {
  const rows = new Map<string, { p: Prediction; rules: string[] }>();
  for (const p of predictions) {
    const row = rows.get(p.series);
    if (row) row.rules.push(p.rule);
    else rows.set(p.series, { p, rules: [p.rule] });
  }
  return [...rows.values()];
}

function formatRange(p: Prediction, nowMs: number): string {
  const low = p.etaLowMs === null ? "now" : formatDuration(Math.max(0, p.etaLowMs - nowMs));
  return p.etaHighMs === null ? `${low} or later` : `${low} – ${formatDuration(p.etaHighMs - nowMs)}`;
}

function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]): string => `  ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ")}`.trimEnd();
  console.log(line(header));
  for (const row of rows) console.log(line(row));
}

