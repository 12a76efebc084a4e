import { formatDuration } from "../core/duration.js";
import { renderCharts } from "./charts.js";
import { currentText, dateTimeText, exhaustionText, growerText, growthText, headroomText, KIND_LABELS } from "./text.js";
import type { Grower, HostReport, Report, ReportItem } from "./types.js";

const ESCAPES: Readonly<Record<string, string>> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** Text for HTML element content and quoted attributes. Every value from the data goes through it. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
}

// Mobile first: one column, cards that wrap anything (long paths, hostile tag values); wider
// screens get two columns. Nothing is wider than the viewport at 375 px.
const CSS = `
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#111827;background:#f9fafb}
main{max-width:1100px;margin:0 auto;padding:12px}
h1{font-size:1.4em;margin:.4em 0}
h2{font-size:1.2em;margin:1.4em 0 .5em;border-bottom:1px solid #e5e7eb;padding-bottom:.2em}
h3{font-size:1em;margin:0 0 .3em}
p,li,dd,dt,h1,h2,h3{overflow-wrap:anywhere}
.meta{color:#4b5563;margin:0 0 .8em}
.summary{display:flex;flex-wrap:wrap;gap:6px;padding:0;list-style:none}
.badge{display:inline-block;border-radius:999px;padding:1px 9px;font-size:.85em;font-weight:600;background:#e5e7eb}
.critical{background:#fee2e2;color:#991b1b}.warning{background:#ffedd5;color:#9a3412}
.watch{background:#fef9c3;color:#854d0e}.ok{background:#dcfce7;color:#166534}.unknown{background:#e5e7eb;color:#374151}
.items{display:grid;grid-template-columns:minmax(0,1fr);gap:12px}
@media (min-width:900px){.items{grid-template-columns:repeat(2,minmax(0,1fr))}}
.card{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:10px 12px;min-width:0}
.card dl{display:grid;grid-template-columns:auto minmax(0,1fr);gap:2px 10px;margin:.4em 0;font-size:.92em}
.card dt{color:#6b7280}.card dd{margin:0}
.rec{font-weight:600;margin:.4em 0}
.chart{margin:.4em 0 0;min-width:0}
.chart svg{display:block;width:100%;height:auto;max-width:100%}
.legend{font-size:.8em;color:#6b7280;margin:0}
.growers{display:grid;grid-template-columns:minmax(0,1fr);gap:12px}
@media (min-width:900px){.growers{grid-template-columns:repeat(3,minmax(0,1fr))}}
.growers ol{margin:.2em 0;padding-left:1.3em}
footer{color:#6b7280;font-size:.85em;margin:2em 0 1em}
`;

/** The whole page: self-contained (inline CSS and SVG, no scripts), and a CSP that forbids any request. */
export async function renderHtml(report: Report): Promise<string> {
  const tz = report.timezone;
  const charts = await renderCharts(
    report.hosts.flatMap((h) => h.items),
    tz,
  );
  const s = report.summary;
  const title = `Capacity report ${dateTimeText(report.generatedAtMs, tz)}`;
  const body = [
    `<h1>${escapeHtml(title)}</h1>`,
    `<p class="meta">Forecasts look ${escapeHtml(formatDuration(report.horizonMs))} ahead from ${escapeHtml(formatDuration(report.historyMs))} of history. ${s.items} items on ${report.hosts.length} host${report.hosts.length === 1 ? "" : "s"}.</p>`,
    `<ul class="summary">${(["critical", "warning", "watch", "ok", "unknown"] as const).map((k) => `<li><span class="badge ${k}">${s[k]} ${k}</span></li>`).join("")}</ul>`,
    report.hosts.length === 0 ? "<p>No data yet: the store holds no disk, memory, CPU or certificate series in the history window.</p>" : "",
    ...report.hosts.map((h) => hostSection(h, charts, tz)),
    report.errors.length > 0 ? `<h2>Not included</h2><ul>${report.errors.map((e) => `<li>${escapeHtml(e)}</li>`).join("")}</ul>` : "",
    `<footer>ANSAI capacity report ${escapeHtml(report.id)} · schema ${report.schema} · dates in ${escapeHtml(tz)}</footer>`,
  ];
  return [
    "<!doctype html>",
    '<html lang="en"><head><meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(title)}</title><style>${CSS}</style></head>`,
    `<body><main>${body.join("\n")}</main></body></html>`,
    "",
  ].join("\n");
}

function hostSection(h: HostReport, charts: ReadonlyMap<string, string>, tz: string): string {
  const items = h.items.map((i) => itemCard(i, charts.get(i.id), tz)).join("\n");
  return [`<section><h2>${escapeHtml(h.host)}</h2>`, `<div class="items">${items}</div>`, growersBlock(h), "</section>"].join("\n");
}

function itemCard(item: ReportItem, svg: string | undefined, tz: string): string {
  const rows: Array<[string, string]> = [
    ["Now", currentText(item)],
    ["Growth", growthText(item)],
    [item.kind === "certificate" ? "Expires" : "Full around", exhaustionText(item, tz)],
    ["At the horizon", headroomText(item)],
  ];
  if (item.confidence !== null && item.kind !== "certificate") rows.push(["Trend confidence", `${Math.round(item.confidence * 100)}%`]);
  const dl = rows.map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`).join("");
  const chart = svg === undefined ? "" : `<figure class="chart" id="chart-${escapeHtml(item.id)}">${svg}<figcaption class="legend">blue: actual · orange dashed: forecast · shaded: forecast range${item.unit === "percent" ? " · red: limit" : ""}</figcaption></figure>`;
  return [
    `<article class="card" data-status="${item.status}">`,
    `<h3><span class="badge ${item.status}">${item.status}</span> ${escapeHtml(KIND_LABELS[item.kind])} ${escapeHtml(item.target)}</h3>`,
    `<p class="rec">${escapeHtml(item.recommendation)}</p>`,
    `<dl>${dl}</dl>`,
    chart,
    "</article>",
  ].join("");
}

function growersBlock(h: HostReport): string {
  const g = h.topGrowers;
  const list = (title: string, growers: readonly Grower[]): string =>
    `<div class="card"><h3>${escapeHtml(title)}</h3>${growers.length === 0 ? "<p>none growing</p>" : `<ol>${growers.map((x) => `<li>${escapeHtml(x.name)}: ${escapeHtml(growerText(x))}</li>`).join("")}</ol>`}</div>`;
  return `<h3>Top growers</h3><div class="growers">${list("Mounts (used space)", g.mounts)}${list("Directories", g.directories)}${list("Processes (memory)", g.processes)}</div>`;
}
