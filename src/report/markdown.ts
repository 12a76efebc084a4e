import { formatDuration } from "../core/duration.js";
import { currentText, dateTimeText, exhaustionText, growerText, growthText, headroomText, KIND_LABELS } from "./text.js";
import type { Grower, HostReport, Report } from "./types.js";

/**
 * Text from the data as inert Markdown: one line; emphasis, code, link brackets and pipes
 * backslash-escaped, `&` and angle brackets as entities (so tag values make no HTML, links or
 * table cells). Data never starts a line, so line-start markers (#, -, 1.) need no escape.
 */
export function escapeMarkdown(text: string): string {
  return text
    .replace(/[\r\n]+/g, " ")
    .replace(/[\\`*_[\]|~]/g, (c) => `\\${c}`)
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;");
}

/** The report as GitHub-flavoured Markdown: a summary, then per host a table, recommendations and top growers. */
export function renderMarkdown(report: Report): string {
  const tz = report.timezone;
  const s = report.summary;
  const out = [
    `# Capacity report ${dateTimeText(report.generatedAtMs, tz)}`,
    "",
    `Forecasts look ${formatDuration(report.horizonMs)} ahead from ${formatDuration(report.historyMs)} of history. ` +
      `${s.items} items: ${s.critical} critical, ${s.warning} warning, ${s.watch} watch, ${s.ok} ok, ${s.unknown} unknown.`,
    "",
  ];
  if (report.hosts.length === 0) out.push("No data yet: the store holds no disk, memory, CPU or certificate series in the history window.", "");
  for (const h of report.hosts) out.push(...hostLines(h, tz));
  if (report.errors.length > 0) out.push("## Not included", "", ...report.errors.map((e) => `- ${escapeMarkdown(e)}`), "");
  out.push(`_ANSAI capacity report ${escapeMarkdown(report.id)}, schema ${report.schema}, dates in ${tz}._`, "");
  return out.join("\n");
}

function hostLines(h: HostReport, tz: string): string[] {
  const out = [`## ${escapeMarkdown(h.host)}`, "", "| Status | Resource | Now | Growth | Runs out | Left at horizon |", "|---|---|---|---|---|---|"];
  for (const i of h.items) {
    const cells = [i.status, `${KIND_LABELS[i.kind]} ${i.target}`, currentText(i), growthText(i), exhaustionText(i, tz), headroomText(i)];
    out.push(`| ${cells.map(escapeMarkdown).join(" | ")} |`);
  }
  out.push("", "### What to do", "");
  for (const i of h.items) out.push(`- **${escapeMarkdown(`${KIND_LABELS[i.kind]} ${i.target}`)}** (${i.status}): ${escapeMarkdown(i.recommendation)}`);
  out.push("", "### Top growers", "");
  const list = (title: string, growers: readonly Grower[]): string[] => [
    `- ${title}:${growers.length === 0 ? " none growing" : ""}`,
    ...growers.map((g) => `  - ${escapeMarkdown(g.name)}: ${escapeMarkdown(growerText(g))}`),
  ];
  out.push(...list("Mounts (used space)", h.topGrowers.mounts), ...list("Directories", h.topGrowers.directories), ...list("Processes (memory)", h.topGrowers.processes), "");
  return out;
}
