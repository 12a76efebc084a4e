import type { ReportFormat } from "./config.js";
import { renderHtml } from "./html.js";
import { renderMarkdown } from "./markdown.js";
import type { Report } from "./types.js";

/** The report as JSON (schema 1), indented for people who open the file. */
export function renderJson(report: Report): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}

/** The report in one format. */
export async function renderReport(report: Report, format: ReportFormat): Promise<string> {
  switch (format) {
    case "html":
      return renderHtml(report);
    case "markdown":
      return renderMarkdown(report);
    case "json":
      return renderJson(report);
  }
}

/** Content-Type of each format, for the API. */
export const CONTENT_TYPES: Readonly<Record<ReportFormat, string>> = Object.freeze({
  html: "text/html; charset=utf-8",
  markdown: "text/markdown; charset=utf-8",
  json: "application/json; charset=utf-8",
});
